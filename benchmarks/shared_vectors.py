"""What sharing query vectors between web processes saves on the assist that follows a customer's turn (a script,
not a test; it needs Redis, the machine's by default).

A helpdesk's webhook (``POST /v1/webhooks/...``) reaches one web process, which reads the conversation as it now
stands (``AssistService.assess``: flags, gaps, the next steps, so every new sentence embedded); the agent's sidebar
then asks another process for the assist. Each demo conversation, in one process standing for both (its own caches
cleared in between, as another process's would be empty):

- **cold**: nothing embedded before the assist (no webhook, or no shared vectors);
- **shared**: the webhook's process assessed the conversation; the assisting process starts with empty caches of
  its own but reads the vectors from Redis.

    .venv/bin/python benchmarks/shared_vectors.py --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import redis

from api.container import DEMO_CONVERSATIONS, Container
from api.demo import ensure_demo_indexed
from api.settings import Settings
from assist.models import Conversation


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis", default=os.environ.get("TACTFUL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    prefix = f"tactful-bench-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(args.redis)
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="tactful-shared-") as tmp:
        settings = Settings(data_dir=Path(tmp), dev_open=True, redis_url=args.redis, redis_prefix=prefix)
        container = Container.build(settings)
        container.start()
        try:
            job = ensure_demo_indexed(container)
            if job:
                container.knowledge.wait(job, timeout=1800)
            e5 = container.knowledge.retriever.store.embeddings.inner
            rules, scorer = container.assist.rules, container.assist.rules.sarcasm

            def other_process() -> None:  # a process that has embedded nothing itself
                e5.queries.clear()
                with rules._retrievals_lock:
                    rules._retrievals.clear()
                if scorer is not None:
                    with scorer._lock:
                        scorer._cache.clear()

            def forget_shared() -> None:
                keys = list(client.scan_iter(match=f"{prefix}:vec:*", count=1000))
                if keys:
                    client.delete(*keys)

            convs = [Conversation.model_validate(c) for c in json.loads(DEMO_CONVERSATIONS.read_text(encoding="utf-8"))]
            times: dict[str, list[float]] = {"cold": [], "shared": []}
            for _ in range(args.rounds):
                for conv in convs:
                    for mode in ("cold", "shared"):
                        fresh = conv.model_copy(update={"id": f"bench-{uuid.uuid4().hex[:8]}"})
                        forget_shared()
                        other_process()
                        if mode == "shared":
                            container.assist.assess(fresh)  # the webhook's process
                            other_process()
                        started = time.perf_counter()
                        container.assist.assist(fresh)
                        times[mode].append((time.perf_counter() - started) * 1000)
            print(f"{len(convs)} demo conversations x {args.rounds} rounds")
            print("| assist after the customer's turn | p50 ms | p95 ms | mean ms |\n|---|---|---|---|")
            for mode, label in (("cold", "nothing embedded before (cold)"),
                                ("shared", "the webhook's process embedded it (shared vectors)")):  # fmt: skip
                t = times[mode]
                print(f"| {label} | {percentile(t, 50):.0f} | {percentile(t, 95):.0f} | {statistics.mean(t):.0f} |")
        finally:
            container.stop()
            forget_shared()
            client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
