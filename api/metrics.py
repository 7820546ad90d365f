"""What the service exposes to Prometheus at ``GET /metrics``: request latency per route, assists, flags raised,
LLM calls (status, latency, tokens), rate-limited requests and the indexing queue. One registry per app."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from assist.models import Assistance

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, *, queue_depth: Callable[[], float] | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Histogram("tactful_http_request_seconds", "HTTP request latency by route, method and status",
                                  ["route", "method", "status"], buckets=LATENCY_BUCKETS, registry=r)  # fmt: skip
        self.assists = Counter("tactful_assists_total", "Assists answered, by engine", ["engine"], registry=r)
        self.flags = Counter("tactful_flags_raised_total", "Flags raised by assists, by kind", ["kind"], registry=r)
        self.llm_parts = Counter("tactful_llm_parts_total", "LLM parts by outcome (ok, fallbacks)",
                                 ["part", "status"], registry=r)  # fmt: skip
        self.llm_seconds = Histogram("tactful_llm_seconds", "LLM call latency", buckets=LATENCY_BUCKETS, registry=r)
        self.llm_tokens = Counter("tactful_llm_tokens_total", "LLM tokens", ["direction"], registry=r)
        self.rate_limited = Counter("tactful_rate_limited_total", "Requests refused past a key's rate limit",
                                    registry=r)  # fmt: skip
        queue = Gauge("tactful_index_queue_depth", "Indexing jobs waiting or running", registry=r)
        if queue_depth is not None:
            queue.set_function(queue_depth)

    def observe_assist(self, assistance: Assistance) -> None:
        """Count an assist, its flags and its LLM parts (from the stats the refinement leaves on it)."""
        self.assists.labels(engine=assistance.engine).inc()
        for flag in assistance.flags:
            self.flags.labels(kind=flag.kind).inc()
        for part, stats in (assistance.llm.get("parts") or {}).items():
            self.llm_parts.labels(part=part, status=str(stats.get("status", "unknown"))).inc()
            if stats.get("latency_ms") and not stats.get("cached"):
                self.llm_seconds.observe(float(stats["latency_ms"]) / 1000)
        for direction in ("tokens_in", "tokens_out"):
            if assistance.llm.get(direction):
                self.llm_tokens.labels(direction=direction.removeprefix("tokens_")).inc(assistance.llm[direction])

    def render(self) -> bytes:
        return generate_latest(self.registry)
