"""``scripts/cluster up|down``: Tactful's multi-process topology on this machine (docs/deploy.md).

``up`` starts a Chroma server (``chroma run``), one job worker (``tactful worker``) and two web servers
(``tactful serve --workers 2``) on the machine's PostgreSQL (a schema of the cluster's own) and Redis (a key prefix
of its own), prints one line ``web http://127.0.0.1:PORT`` per web server, and returns. It takes ``TACTFUL_API_KEYS``
and ``TACTFUL_DATA_DIR`` from the environment; the cluster's state, data and logs live in ``$TACTFUL_DATA_DIR/cluster``.
``down`` stops exactly what ``up`` started (each process group it recorded), drops the schema and the Redis keys.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
POSTGRES = os.environ.get("TACTFUL_CLUSTER_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("TACTFUL_CLUSTER_REDIS_URL", "redis://127.0.0.1:6379/0")
WEB_SERVERS = 2
WEB_WORKERS = 2


class ClusterError(Exception):
    """Why the cluster cannot start or stop; printed to the operator, exit code 1."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _folder() -> Path:
    data = os.environ.get("TACTFUL_DATA_DIR", "").strip()
    if not data:
        raise ClusterError("TACTFUL_DATA_DIR is not set: the cluster keeps its state, data and logs under it")
    return Path(data).resolve() / "cluster"


def _save(folder: Path, state: dict[str, Any]) -> None:
    (folder / "state.json").write_text(json.dumps(state, indent=2), encoding="utf-8")


def _start(folder: Path, state: dict[str, Any], name: str, command: list[str], env: dict[str, str]) -> int:
    """Start ``command`` in a process group of its own (so ``down`` stops its children too); its pid."""
    with (folder / f"{name}.log").open("w") as log:
        proc = subprocess.Popen(command, env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    state["processes"].append({"name": name, "pid": proc.pid})
    _save(folder, state)
    return proc.pid


def _wait(url: str, *, what: str, folder: Path, log: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    tail = (folder / f"{log}.log").read_text(encoding="utf-8", errors="replace")[-2000:]
    raise ClusterError(f"{what} did not answer {url} within {timeout:.0f} s; its log ends:\n{tail}")


def _sql(statement: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(POSTGRES)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def up() -> int:
    if not os.environ.get("TACTFUL_API_KEYS", "").strip():
        raise ClusterError("TACTFUL_API_KEYS is not set (role:key pairs, as for tactful serve)")
    folder = _folder()
    if (folder / "state.json").exists():
        raise ClusterError(f"a cluster is already up ({folder / 'state.json'}): scripts/cluster down first")
    folder.mkdir(parents=True, exist_ok=True)
    tag = secrets.token_hex(4)
    schema, prefix = f"tactful_cluster_{tag}", f"tactful-cluster-{tag}"
    state: dict[str, Any] = {"schema": schema, "prefix": prefix, "processes": [], "web": []}
    _save(folder, state)
    _sql(f"CREATE SCHEMA {schema}")
    chroma_port = _free_port()
    env = {
        **os.environ,
        "TACTFUL_DATA_DIR": str(folder / "data"),
        "TACTFUL_DATABASE_URL": f"{POSTGRES}?options=-csearch_path%3D{schema}",
        "TACTFUL_CHROMA_URL": f"http://127.0.0.1:{chroma_port}",
        "TACTFUL_QUEUE_URL": REDIS,
        "TACTFUL_REDIS_PREFIX": prefix,
    }
    chroma = [str(BIN / "chroma"), "run", "--path", str(folder / "chroma"), "--host", "127.0.0.1",
              "--port", str(chroma_port)]  # fmt: skip
    _start(folder, state, "chroma", chroma, env)
    _wait(f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat", what="chroma run", folder=folder, log="chroma")
    tactful = str(BIN / "tactful")
    subprocess.run([tactful, "migrate"], env=env, cwd=folder, check=True, capture_output=True)  # once, first
    _start(folder, state, "worker", [tactful, "worker"], env)
    for i in range(WEB_SERVERS):
        port = _free_port()
        command = [tactful, "serve", "--workers", str(WEB_WORKERS), "--port", str(port)]
        _start(folder, state, f"web-{i + 1}", command, env)
        state["web"].append(f"http://127.0.0.1:{port}")
        _save(folder, state)
    for i, url in enumerate(state["web"]):
        _wait(f"{url}/healthz", what=f"web server {i + 1}", folder=folder, log=f"web-{i + 1}")
    for url in state["web"]:
        print(f"web {url}", flush=True)
    return 0


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def down() -> int:
    folder = _folder()
    path = folder / "state.json"
    if not path.exists():
        print("scripts/cluster: no cluster is up", file=sys.stderr)
        return 0
    state = json.loads(path.read_text(encoding="utf-8"))
    groups = [p["pid"] for p in reversed(state["processes"])]
    for pid in groups:
        if _alive(pid):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in groups) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in groups:
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
    _sql(f"DROP SCHEMA IF EXISTS {state['schema']} CASCADE")
    import redis

    client = redis.Redis.from_url(REDIS)
    try:
        keys = list(client.scan_iter(match=f"{state['prefix']}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
    path.unlink()
    print(f"stopped {len(groups)} process groups", flush=True)
    return 0


def main(argv: list[str]) -> int:
    if argv not in (["up"], ["down"]):
        print("usage: scripts/cluster up|down", file=sys.stderr)
        return 2
    try:
        return up() if argv == ["up"] else down()
    except ClusterError as exc:
        print(f"scripts/cluster: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
