"""``tactful index PATH... [--full]``: load files, index them through a job, show progress and a summary."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from api.container import Container
from api.settings import Settings
from kb_index.documents import SourceDocument
from kb_index.errors import InvalidDocument
from kb_index.loaders import iter_paths, load_path


def _load(paths: list[Path], console: Console) -> tuple[list[SourceDocument], int]:
    docs, failed = [], 0
    for root in paths:
        base = root if root.is_dir() else root.parent
        for path in iter_paths([root]):
            try:
                docs.append(load_path(path, root=base))
            except InvalidDocument as exc:
                failed += 1
                console.print(f"[red]skipped[/red] {exc.message}")
    return docs, failed


def _follow(container: Container, job_id: str, console: Console, label: str) -> dict[str, object]:
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(label, total=None)
        while True:
            job = container.knowledge.job(job_id)
            progress = job["progress"]
            bar.update(task, completed=progress["done"], total=progress["total"] or None)
            if job["status"] in ("succeeded", "failed"):
                return job
            time.sleep(0.2)


def run_index(settings: Settings, paths: list[Path], *, full: bool) -> int:
    console = Console(soft_wrap=True)
    try:
        docs, failed = _load(paths, console)
    except InvalidDocument as exc:
        console.print(f"[red]error[/red] {exc.message}")
        return 2
    container = Container.build(settings)
    container.start()
    try:
        status = 0
        if docs:
            job = _follow(container, container.knowledge.submit_documents(docs)["job_id"], console, "indexing")
            status |= _summary(job, console)
        if full:
            job = _follow(container, container.knowledge.submit_reindex("full"), console, "full re-index")
            status |= _summary(job, console)
        return status or (1 if failed else 0)
    finally:
        container.stop()


def _summary(job: dict[str, object], console: Console) -> int:
    counts = job["counts"]
    assert isinstance(counts, dict)
    console.print(" ".join(f"{k}: {counts[k]}" for k in ("added", "updated", "skipped", "deleted")))
    if job["status"] != "succeeded":
        console.print(f"[red]failed[/red]: {job['error']}")
        return 1
    return 0
