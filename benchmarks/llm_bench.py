"""LLM benchmark (not a test): the streamed assist with the local model, grounding drops, and a dead endpoint.

    .venv/bin/python benchmarks/llm_bench.py --requests 10 --deadline 120

Starts llama.cpp's server with SmolLM2-135M (the ``llm`` extra) on a free port and the service (demo knowledge
base, real e5 embeddings) on another, then streams ``POST /v1/assist/stream`` for the demo conversations (with
their drafts) one at a time, the cache off. Prints a Markdown table for docs/benchmarks.md (## LLM):
  - time to the first event (the rules answer) and to ``done``, p50/p95;
  - how each LLM part ended, and the share of proposed next steps the grounding check dropped (by reason);
  - the assist latency a dead endpoint adds once the circuit breaker is open (the refiner alone, and through HTTP).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from api.app import create_app
from api.container import DEMO_CONVERSATIONS
from api.demo import ensure_demo_indexed
from api.settings import Settings
from assist.llm import CircuitBreaker, OpenAICompatibleLLM, local_model_path
from assist.models import Conversation
from assist.refine import RefineConfig, Refiner

KEY = "bench-agent-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


@contextmanager
def llama_server(threads: int) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(local_model_path()), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", "4096", "--n_threads", str(threads)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{port}/v1/models", timeout=180)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()  # it may still be working on answers nobody waits for: do not wait for them long
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def service(settings: Settings) -> Iterator[tuple[str, Any]]:
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}", app.state.container
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def wait_for(url: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def index_demo(container: Any) -> None:
    job = ensure_demo_indexed(container)
    if job:
        result = container.knowledge.wait(job, timeout=1800)
        assert result["status"] == "succeeded", result


def stream_once(base: str, body: dict[str, Any]) -> tuple[float, float, dict[str, Any]]:
    """Seconds to the first event and to ``done``, and the ``done`` data."""
    started = time.perf_counter()
    first = 0.0
    done: dict[str, Any] = {}
    with httpx.stream(
        "POST", f"{base}/v1/assist/stream", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=600
    ) as r:
        r.raise_for_status()
        event = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
                first = first or time.perf_counter() - started
            elif line.startswith("data: ") and event == "done":
                done = json.loads(line.removeprefix("data: "))
    return first, time.perf_counter() - started, done


def run_streams(base: str, conversations: list[dict[str, Any]], requests: int) -> dict[str, Any]:
    firsts: list[float] = []
    totals: list[float] = []
    statuses: Counter[str] = Counter()
    drops: Counter[str] = Counter()
    proposed = dropped = 0
    for i in range(requests):
        conv = dict(conversations[i % len(conversations)])
        draft = conv.pop("draft", None)
        conv["id"] = f"bench-{i}"
        first, total, done = stream_once(base, {"conversation": conv, "draft": draft})
        firsts.append(first * 1000)
        totals.append(total * 1000)
        for name, part in done["llm"]["parts"].items():
            statuses[f"{name}:{part['status']}" + (f" ({part['reason']})" if part.get("reason") else "")] += 1
            if name == "next_steps":
                proposed += part.get("proposed", 0)
                dropped += part.get("dropped", 0)
                drops.update(part.get("dropped_by", {}))
        print(f"  {i + 1}/{requests}: first {first * 1000:.0f} ms, done {total:.1f} s", file=sys.stderr)
    return {
        "first": firsts,
        "total": totals,
        "statuses": statuses,
        "proposed": proposed,
        "dropped": dropped,
        "drops": drops,
    }


def dead_endpoint(container: Any, conversations: list[dict[str, Any]], repeat: int) -> dict[str, Any]:
    """What a dead endpoint costs: the calls until the breaker opens, then the refiner's overhead once open."""
    llm = OpenAICompatibleLLM(base_url=f"http://127.0.0.1:{free_port()}/v1", model="dead", backoff_s=0.25)
    refiner = Refiner(llm, config=RefineConfig(timeout_s=8), breaker=CircuitBreaker(failures=3, reset_s=3600))
    conv = dict(conversations[0])
    draft = conv.pop("draft", None)
    conversation = Conversation.model_validate(conv)
    assistance, passages = container.assist.rules.assist_with_passages(conversation, draft=draft)
    started = time.perf_counter()
    while refiner.breaker.state != "open":  # three assists in a row without an answer
        refiner.refine(assistance, conversation=conversation, passages=passages, draft=draft)
    opening = (time.perf_counter() - started) * 1000
    added = []
    for _ in range(repeat):
        started = time.perf_counter()
        refiner.refine(assistance, conversation=conversation, passages=passages, draft=draft)
        added.append((time.perf_counter() - started) * 1000)
    refiner.close()
    return {"opening": opening, "added": added}


def http_assist(base: str, conversations: list[dict[str, Any]], repeat: int) -> list[float]:
    samples = []
    for i in range(repeat):
        conv = dict(conversations[i % len(conversations)])
        draft = conv.pop("draft", None)
        started = time.perf_counter()
        r = httpx.post(
            f"{base}/v1/assist",
            json={"conversation": conv, "draft": draft},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=60,
        )
        r.raise_for_status()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def settings(data_dir: Path, **llm: Any) -> Settings:
    return Settings(_env_file=None, data_dir=data_dir, api_keys=f"agent:{KEY}", llm_cache_ttl_s=0, **llm)  # type: ignore[call-arg, arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10, help="streams with the local model")
    parser.add_argument("--deadline", type=float, default=8.0, help="TACTFUL_LLM_TIMEOUT_S for the streams")
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) // 2), help="llama.cpp threads")
    parser.add_argument("--repeat", type=int, default=200, help="calls with the breaker open")
    args = parser.parse_args()
    conversations = json.loads(DEMO_CONVERSATIONS.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        with llama_server(args.threads) as url:
            live = settings(data, llm_base_url=url, llm_model="smollm2", llm_timeout_s=args.deadline)
            with service(live) as (base, container):
                index_demo(container)
                print("streaming…", file=sys.stderr)
                streams = run_streams(base, conversations, args.requests)
                dead = dead_endpoint(container, conversations, args.repeat)
        dead_url = f"http://127.0.0.1:{free_port()}/v1"
        broken = settings(data, llm_base_url=dead_url, llm_model="dead", llm_breaker_reset_s=3600)
        with service(broken) as (base, _):
            http_assist(base, conversations, 3)  # opens the breaker
            with_dead = http_assist(base, conversations, 30)
        with service(settings(data)) as (base, _):
            http_assist(base, conversations, 3)
            without = http_assist(base, conversations, 30)
    report(args, streams, dead, with_dead, without)


def report(
    args: argparse.Namespace,
    streams: dict[str, Any],
    dead: dict[str, Any],
    with_dead: list[float],
    without: list[float],
) -> None:
    first, total = percentiles(streams["first"]), percentiles(streams["total"])
    added = percentiles(dead["added"])
    share = streams["dropped"] / streams["proposed"] if streams["proposed"] else 0.0
    http_dead, http_none = percentiles(with_dead), percentiles(without)
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, llama.cpp threads {args.threads}"
    )
    print(
        f"Model: SmolLM2-135M-Instruct Q4_1 (llama-cpp-python server), deadline {args.deadline:g} s, cache off, {args.requests} streams\n"
    )
    print("| measure | p50 | p95 |")
    print("|---|---|---|")
    print(f"| stream: first event (rules answer) | {first[0]:.0f} ms | {first[1]:.0f} ms |")
    print(f"| stream: `done` (LLM parts merged) | {total[0] / 1000:.1f} s | {total[1] / 1000:.1f} s |")
    print(f"| dead endpoint, breaker open: refiner overhead | {added[0]:.3f} ms | {added[1]:.3f} ms |")
    print(f"| `POST /v1/assist`, dead endpoint, breaker open | {http_dead[0]:.0f} ms | {http_dead[1]:.0f} ms |")
    print(f"| `POST /v1/assist`, no LLM configured | {http_none[0]:.0f} ms | {http_none[1]:.0f} ms |")
    print(
        f"\nDead endpoint until the breaker opened (3 assists, 3 parts each, 2 retries with backoff): {dead['opening']:.0f} ms; max overhead once open: {max(dead['added']):.3f} ms over {len(dead['added'])} calls."
    )
    print(
        f"Next steps proposed by the model: {streams['proposed']}, dropped by the grounding check: {streams['dropped']} ({share:.0%}); by reason: {dict(streams['drops'])}"
    )
    print(f"How the LLM parts ended: {dict(sorted(streams['statuses'].items()))}")


if __name__ == "__main__":
    main()
