"""The service as the evaluations on the demo knowledge base run it: a fresh data folder, the demo indexed."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from api.container import Container


@contextmanager
def demo_container(prefix: str, *, index_demo: bool = True, learned_sarcasm: bool = False) -> Iterator[Container]:
    """A running container over the bundled demo knowledge base, indexed as ``POST /v1/documents`` indexes it
    (rules only: no LLM, the phrase banks without the learned sarcasm scorer unless ``learned_sarcasm``, as the
    service ships); stopped and deleted afterwards. ``index_demo=False``: an empty knowledge base."""
    from api.container import Container
    from api.demo import ensure_demo_indexed
    from api.settings import Settings

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        container = Container.build(Settings(data_dir=Path(tmp), dev_open=True, tone_learned_sarcasm=learned_sarcasm))
        container.start()
        try:
            job = ensure_demo_indexed(container) if index_demo else None
            if job:
                container.knowledge.wait(job, timeout=1800)
            yield container
        finally:
            container.stop()
