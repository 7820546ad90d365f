"""Load benchmark (not a test; issue 10): simulated agents against the local cluster while a full re-index runs.

    .venv/bin/python benchmarks/load.py --agents 50 --duration 120
    .venv/bin/python benchmarks/load.py --knee 10,25,50,75,100 --duration 45
    .venv/bin/python benchmarks/load.py --url http://127.0.0.1:8000 --agents 5 --duration 20  # a cluster already up

Without ``--url`` it starts the local cluster (``scripts/cluster up``: a Chroma server, a job worker, two web servers
of two workers each, on the machine's PostgreSQL and Redis) in a fresh data folder with keys of its own (one agent
key per agent, so the per-key rate limit is an agent's, as in production), and always stops it (``scripts/cluster
down`` on that folder only), on an error or Ctrl-C too. With ``--url`` it uses the keys in ``--keys`` or
``TACTFUL_API_KEYS`` and stops nothing.

It loads the bundled demo knowledge base through ``POST /v1/documents``, then simulates agents spread over the web
servers. Each agent works one conversation (a demo conversation in en/it/es/pl, a run-unique id): it types its draft
in bursts of 2-5 s and, after each typing pause, calls ``POST /v1/assist/stream`` (what the sidebar calls, 600 ms
after the last keystroke) with the draft grown; a new customer turn arrives every 20-40 s (the typed draft is sent
first, after a tone check, ``POST /v1/tone``, as the Zendesk send gate does) and is assisted at once. One full
re-index (``POST /v1/reindex {"mode": "full"}``) starts during the run and is polled to completion. Randomness is
seeded. No LLM is configured: the rules engine answers (the stream's ``assist`` and ``done`` events come together).
Agent i works demo conversation i mod 10 and types its drafts: agents sharing a template repeat texts whose vectors
a process has cached (a real shift's texts are all new); customer turns after the opening are unique.

Prints, per call type: count, errors (non-2xx or transport errors, the first few bodies), p50/p95/p99 in ms. With
``--knee`` it runs one step per agent count (no re-index) and prints where p95 of the assist call passes
``--slo-ms``. The client's own event-loop lag is printed too: on a busy machine it is part of every figure.

With ``--webhooks`` the agents' helpdesk is Chatwoot: every message of a conversation (each customer turn, each
reply the agent sends; the opening ones in one delivery that lists the earlier ones) is first posted, signed, to
``POST /v1/webhooks/chatwoot`` on a web server picked at random (Chatwoot's delivery goes through the load balancer
too), the conversation is ``chatwoot-<id>``, and the sidebar's assist follows ``--webhook-lead`` seconds after the
webhook was answered (the agent's screen and the webhook hear of a message at about the same time). The webhook's
process assesses the turn after answering (``AssistService.assess``), so its sentences' vectors are in Redis for the
assisting process.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.chatwoot import sign  # noqa: E402
from api.container import DEMO_CONVERSATIONS, DEMO_KB  # noqa: E402
from kb_index.loaders import iter_paths, load_path  # noqa: E402

CLUSTER = ROOT / "scripts" / "cluster"
ASSIST = "assist/stream (all)"
ASSIST_FIRST = "assist/stream (all), first event"
TYPED = "assist/stream after a typing pause"
TURN = "assist/stream on a new customer turn"
OPEN = "assist/stream, conversation opened"
RAMPING = "assist/stream while agents still open their conversations"
ENGINE = "assist: engine time in the server (timings_ms.total)"
WEBHOOK = "POST /v1/webhooks/chatwoot"
DEBOUNCE_S = 0.6  # the sidebar's AUTO_ASSIST_MS
WORDS_PER_S = 0.9  # about 55 words a minute
MAX_ERROR_BODIES = 5

# A customer's next turns, per language; {n} becomes a number of the customer's own, so no two turns are alike (an
# identical text would be answered from each process's query cache, which real customers do not get).
FOLLOW_UPS = {
    "en": [
        "Any news? It has been a while and I still have nothing, my reference is {n}.",
        "Thanks. How long will that take exactly? I need it before the {d}th.",
        "I already tried that twice and it did not work, order {n}.",
        "Can I get a refund instead? This is really frustrating.",
        "OK, and will I get an email confirmation for case {n}?",
    ],
    "it": [
        "Ci sono novità? Sto ancora aspettando, il riferimento è {n}.",
        "Grazie. Quanto ci vorrà esattamente? Mi serve prima del {d}.",
        "Ho già provato due volte e non funziona, ordine {n}.",
        "Posso avere un rimborso invece? Sono davvero stanco di aspettare.",
        "Va bene, riceverò una conferma via email per la pratica {n}?",
    ],
    "es": [
        "¿Hay novedades? Sigo esperando, mi referencia es {n}.",
        "Gracias. ¿Cuánto tardará exactamente? Lo necesito antes del día {d}.",
        "Ya lo intenté dos veces y no funciona, pedido {n}.",
        "¿Puedo pedir un reembolso? Esto es muy frustrante.",
        "Vale, ¿recibiré un correo de confirmación para el caso {n}?",
    ],
    "pl": [
        "Czy są jakieś nowości? Nadal czekam, numer zgłoszenia {n}.",
        "Dziękuję. Ile to dokładnie potrwa? Potrzebuję tego przed {d}.",
        "Próbowałem już dwa razy i nie działa, zamówienie {n}.",
        "Czy mogę zamiast tego dostać zwrot pieniędzy? To naprawdę frustrujące.",
        "Dobrze, czy dostanę potwierdzenie mailem dla sprawy {n}?",
    ],
}


@dataclass
class Calls:
    """Latencies (ms) and errors per call type."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    bodies: dict[str, list[str]] = field(default_factory=dict)
    facts: dict[str, int] = field(default_factory=dict)

    def ok(self, kind: str, ms: float) -> None:
        self.latencies.setdefault(kind, []).append(ms)

    def error(self, kind: str, what: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        bodies = self.bodies.setdefault(kind, [])
        if len(bodies) < MAX_ERROR_BODIES:
            bodies.append(what[:300])

    def count(self, fact: str) -> None:
        self.facts[fact] = self.facts.get(fact, 0) + 1


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks."""
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def table(calls: Calls) -> str:
    lines = ["| call | count | errors | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|---|---|"]
    for kind in sorted(set(calls.latencies) | set(calls.errors)):
        samples = calls.latencies.get(kind, [])
        figures = [f"{percentile(samples, q):.0f}" for q in (50, 95, 99)] if samples else ["-"] * 3
        lines.append(f"| {kind} | {len(samples) + calls.errors.get(kind, 0)} | {calls.errors.get(kind, 0)} | "
                     + " | ".join(figures) + " |")  # fmt: skip
    return "\n".join(lines)


@dataclass
class Target:
    """Where to send calls, with which keys."""

    clients: list[httpx.AsyncClient]
    agent_keys: list[str]
    knowledge_key: str
    webhook_secret: str | None = None  # with it, the helpdesk posts each message to /v1/webhooks/chatwoot first
    webhook_lead: float = 1.0
    rng: random.Random = field(default_factory=lambda: random.Random(11))
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))


def _chatwoot_message(message: dict[str, Any], ident: int) -> dict[str, Any]:
    return {
        "id": ident,
        "content": message["text"],
        "message_type": "incoming" if message["role"] == "customer" else "outgoing",
        "private": False,
        "created_at": message["at"],
    }


async def _webhook(
    calls: Calls,
    target: Target,
    conversation: dict[str, Any],
    message: dict[str, Any],
    *,
    opened_at: str,
    earlier: Sequence[dict[str, Any]] = (),
) -> None:
    """What Chatwoot posts when ``message`` is created in ``conversation`` (``chatwoot-<id>``), signed, to a web
    server picked at random (``earlier``: messages the payload lists before it, as Chatwoot's
    ``conversation.messages``)."""
    assert target.webhook_secret is not None
    chat_id = int(str(conversation["id"]).removeprefix("chatwoot-"))
    customer = conversation.get("customer") or {}
    sender = {"id": chat_id, "name": customer.get("name") or None, "type": "contact"}
    listed = [_chatwoot_message(m, next(target.ids)) for m in earlier]
    event = {
        "event": "message_created",
        **_chatwoot_message(message, next(target.ids)),
        "account": {"id": 1},
        "conversation": {"id": chat_id, "created_at": opened_at, "meta": {"sender": sender}, "messages": listed},
        "sender": sender if message["role"] == "customer" else {"id": 7, "name": "Agent", "type": "user"},
    }
    body = json.dumps(event).encode()
    stamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-Chatwoot-Signature": sign(target.webhook_secret, body, stamp),
        "X-Chatwoot-Timestamp": str(stamp),
        "X-Chatwoot-Delivery": f"load-{chat_id}-{event['id']}",
    }
    await _call(calls, WEBHOOK, target.rng.choice(target.clients), "POST", "/v1/webhooks/chatwoot", content=body,
                headers=headers)  # fmt: skip


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def _call(calls: Calls, kind: str, client: httpx.AsyncClient, method: str, path: str, **kw: Any) -> Any:
    """One JSON call, timed; its JSON answer, or None after recording an error."""
    start = time.perf_counter()
    try:
        r = await client.request(method, path, **kw)
    except httpx.HTTPError as exc:
        calls.error(kind, f"{type(exc).__name__}: {exc}")
        return None
    ms = (time.perf_counter() - start) * 1000
    if not 200 <= r.status_code < 300:
        calls.error(kind, f"{r.status_code} {r.text}")
        return None
    calls.ok(kind, ms)
    return r.json() if r.content else {}


async def _assist(calls: Calls, kind: str, client: httpx.AsyncClient, key: str, body: dict[str, Any]) -> None:
    """``POST /v1/assist/stream``: timed to its first event (what the agent sees) and to its end."""
    start = time.perf_counter()
    first: float | None = None
    event, done = "", None
    try:
        async with client.stream("POST", "/v1/assist/stream", json=body, headers=_headers(key)) as r:
            if r.status_code != 200:
                await r.aread()
                calls.error(kind, f"{r.status_code} {r.text}")
                calls.error(ASSIST, f"{r.status_code} {r.text}")
                return
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                    first = first if first is not None else time.perf_counter()
                elif line.startswith("data: ") and event == "done":
                    done = json.loads(line[6:])
    except httpx.HTTPError as exc:
        calls.error(kind, f"{type(exc).__name__}: {exc}")
        calls.error(ASSIST, f"{type(exc).__name__}: {exc}")
        return
    end = time.perf_counter()
    if done is None:
        calls.error(kind, f"stream ended without a done event (last event {event!r})")
        calls.error(ASSIST, "stream ended without a done event")
        return
    for name in (kind, ASSIST):
        calls.ok(name, (end - start) * 1000)
    calls.ok(ASSIST_FIRST, ((first or end) - start) * 1000)
    calls.ok(ENGINE, float(done.get("timings_ms", {}).get("total", 0.0)))
    calls.count(f"knowledge state {done.get('knowledge', {}).get('state', '?')}")
    if not done.get("articles"):
        calls.count("assists without any article")


def _conversations() -> list[dict[str, Any]]:
    return list(json.loads(DEMO_CONVERSATIONS.read_text(encoding="utf-8")))


def _language(conversation: dict[str, Any]) -> str:
    return str(conversation["id"]).rsplit("-", 1)[-1]


class Agent:
    """One simulated agent on one conversation: types in bursts, assists after each pause, sends before each turn."""

    def __init__(self, i: int, *, tag: str, target: Target, calls: Calls, rng: random.Random) -> None:
        templates = _conversations()
        template = templates[i % len(templates)]
        self.language = _language(template)
        self.drafts = [str(t["draft"]) for t in templates if _language(t) == self.language]
        self.drafts.insert(0, self.drafts.pop(self.drafts.index(str(template["draft"]))))
        self.conversation = {k: v for k, v in template.items() if k not in ("draft", "title")}
        # With webhooks a Chatwoot conversation (a number); either way an id unique to this run.
        chatwoot = target.webhook_secret is not None
        self.conversation["id"] = f"chatwoot-{int(tag, 16) * 10_000 + i}" if chatwoot else f"load-{tag}-{i}"
        self.conversation["messages"] = [{**m, "at": m.get("at") or _now()} for m in template["messages"]]
        self.target, self.opened_at = target, _now()
        self.client = target.clients[i % len(target.clients)]
        self.key = target.agent_keys[i % len(target.agent_keys)]
        self.calls, self.rng, self.turns = calls, rng, 0
        self.words: list[str] = []
        self.typed = 0
        self.steady_from = 0.0

    async def run(self, *, start_within: float, until: float, steady_from: float = 0.0) -> None:
        """Work until ``until``; assists (other than the opening) made before ``steady_from`` are counted apart."""
        self.steady_from = steady_from
        await asyncio.sleep(self.rng.uniform(0, start_within))
        self._next_draft()
        if self.target.webhook_secret is not None:
            # The opening messages were heard one by one while they were written, minutes before the agent opens
            # the conversation; here, one webhook for the last lists the earlier ones (one assessment, not one per
            # message within a second, which would load the run with work a real shift spreads over its openings).
            *earlier, last = self.conversation["messages"]
            await _webhook(self.calls, self.target, self.conversation, last, opened_at=self.opened_at, earlier=earlier)
            await asyncio.sleep(self.target.webhook_lead)
        await self._assist(OPEN)
        next_turn = time.monotonic() + self.rng.uniform(20, 40)
        while time.monotonic() < until:
            if time.monotonic() >= next_turn:
                await self._customer_turn()
                next_turn = time.monotonic() + self.rng.uniform(20, 40)
            elif self.typed < len(self.words):
                burst = self.rng.uniform(2, 5)
                await asyncio.sleep(min(burst, max(0.0, next_turn - time.monotonic())) + DEBOUNCE_S)
                self.typed = min(len(self.words), self.typed + max(1, round(burst * WORDS_PER_S)))
                if time.monotonic() < until:
                    await self._assist(TYPED)
            else:  # the draft is written: send it, then wait for the customer
                await self._send()
                await asyncio.sleep(max(0.0, min(next_turn, until) - time.monotonic()))

    def _next_draft(self) -> None:
        self.words, self.typed = self.drafts[self.turns % len(self.drafts)].split(), 0

    async def _assist(self, kind: str) -> None:
        if kind != OPEN and time.monotonic() < self.steady_from:
            kind = RAMPING
        body = {"conversation": self.conversation, "draft": " ".join(self.words[: self.typed])}
        await _assist(self.calls, kind, self.client, self.key, body)

    async def _send(self) -> None:
        if not self.typed:
            return
        text = " ".join(self.words[: self.typed])
        body = {
            "text": text,
            "language": self.language,
            "customer_name": self.conversation.get("customer", {}).get("name"),
        }
        await _call(self.calls, "tone", self.client, "POST", "/v1/tone", json=body, headers=_headers(self.key))
        message = {"role": "agent", "text": text, "at": _now()}
        self.conversation["messages"].append(message)
        self.words, self.typed = [], 0
        if self.target.webhook_secret is not None:
            await _webhook(self.calls, self.target, self.conversation, message, opened_at=self.opened_at)

    async def _customer_turn(self) -> None:
        await self._send()
        self.turns += 1
        bank = FOLLOW_UPS[self.language]
        text = bank[self.turns % len(bank)].format(n=f"LM-{self.rng.randrange(10**6, 10**7)}",
                                                   d=self.rng.randint(2, 28))  # fmt: skip
        message = {"role": "customer", "text": text, "at": _now()}
        self.conversation["messages"].append(message)
        self._next_draft()
        if self.target.webhook_secret is not None:
            await _webhook(self.calls, self.target, self.conversation, message, opened_at=self.opened_at)
            await asyncio.sleep(self.target.webhook_lead)
        await self._assist(TURN)


async def _job(calls: Calls, target: Target, job_id: str, *, kind: str, timeout: float) -> dict[str, Any]:
    """Poll ``GET /v1/jobs/{id}`` (through each server in turn) until it succeeds or fails."""
    deadline, i = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        client = target.clients[i % len(target.clients)]
        i += 1
        job = await _call(calls, kind, client, "GET", f"/v1/jobs/{job_id}", headers=_headers(target.knowledge_key))
        if job and job["status"] in ("succeeded", "failed"):
            return dict(job)
        await asyncio.sleep(1.0)
    raise TimeoutError(f"job {job_id} not finished within {timeout:.0f} s")


async def load_demo_kb(target: Target) -> dict[str, Any]:
    """The bundled demo knowledge base through ``POST /v1/documents``, waited for."""
    docs = [load_path(p, root=DEMO_KB) for p in iter_paths([DEMO_KB])]
    body = {"documents": [{"id": d.id, "title": d.title, "text": d.text, "format": d.format, "language": d.language,
                           "kind": d.kind, "source": f"demo_kb/{d.id}.md"} for d in docs]}  # fmt: skip
    r = await target.clients[0].post("/v1/documents", json=body, headers=_headers(target.knowledge_key))
    if r.status_code != 202:
        raise RuntimeError(f"POST /v1/documents: {r.status_code} {r.text}")
    job = await _job(Calls(), target, r.json()["job_id"], kind="jobs", timeout=900)
    if job["status"] != "succeeded":
        raise RuntimeError(f"the demo knowledge base did not index: {job}")
    await asyncio.sleep(3.0)  # every web process follows the index version within ~1 s
    return job


async def reindex(calls: Calls, target: Target, *, at: float) -> dict[str, Any]:
    """A full re-index started ``at`` seconds into the run, polled to completion; what happened."""
    await asyncio.sleep(at)
    started = time.monotonic()
    answer = await _call(calls, "POST /v1/reindex", target.clients[0], "POST", "/v1/reindex", json={"mode": "full"},
                         headers=_headers(target.knowledge_key))  # fmt: skip
    if answer is None:
        return {"status": "not started"}
    job = await _job(calls, target, answer["job_id"], kind="GET /v1/jobs/{id}", timeout=1800)
    return {**job, "seconds": time.monotonic() - started, "started_at_s": at}


async def loop_lag(samples: list[float], *, until: float) -> None:
    """How late the client's event loop wakes up (ms): the client's own share of every latency."""
    while time.monotonic() < until:
        start = time.perf_counter()
        await asyncio.sleep(0.05)
        samples.append((time.perf_counter() - start) * 1000 - 50)


async def load_averages(samples: list[float], *, until: float) -> None:
    while time.monotonic() < until:
        samples.append(os.getloadavg()[0])
        await asyncio.sleep(5)


@dataclass
class Run:
    calls: Calls
    lag: list[float]
    load: list[float]
    job: dict[str, Any] | None


async def run_agents(
    target: Target, agents: int, *, duration: float, seed: int, reindex_at: float | None, ramp: float | None = None
) -> Run:
    """``agents`` agents for ``duration`` seconds, a re-index if asked. Agents open their conversations over the first
    ``ramp`` seconds (default: a tenth of the run, at most 10 s, counted with the rest); with ``ramp``, the other
    assists made meanwhile are counted apart."""
    calls, lag, load = Calls(), list[float](), list[float]()
    tag, until = secrets.token_hex(3), time.monotonic() + duration
    rng = random.Random(seed)
    crowd = [Agent(i, tag=tag, target=target, calls=calls, rng=random.Random(rng.random())) for i in range(agents)]
    within = ramp if ramp is not None else min(10.0, duration / 10)
    steady = time.monotonic() + ramp if ramp is not None else 0.0
    tasks = [asyncio.create_task(a.run(start_within=within, until=until, steady_from=steady)) for a in crowd]
    tasks += [asyncio.create_task(loop_lag(lag, until=until)), asyncio.create_task(load_averages(load, until=until))]
    job_task = asyncio.create_task(reindex(calls, target, at=reindex_at)) if reindex_at is not None else None
    await asyncio.gather(*tasks)
    job = await job_task if job_task else None
    return Run(calls, lag, load, job)


def report(run: Run, *, agents: int, duration: float) -> None:
    print(f"\n{agents} agents, {duration:.0f} s; load average (1 min) during the run: "
          f"{min(run.load):.1f}-{max(run.load):.1f}")  # fmt: skip
    print(table(run.calls))
    if run.lag:
        print(f"client event-loop lag: p50 {percentile(run.lag, 50):.1f} ms, p95 {percentile(run.lag, 95):.1f} ms, "
              f"max {max(run.lag):.0f} ms")  # fmt: skip
    for fact, n in sorted(run.calls.facts.items()):
        print(f"{fact}: {n}")
    if run.job is not None:
        job = run.job
        print(f"full re-index: {job.get('status')}, started {job.get('started_at_s', 0):.0f} s into the run, "
              f"{job.get('seconds', 0):.1f} s, counts {job.get('counts')}, error {job.get('error')}")  # fmt: skip
    for kind, bodies in run.calls.bodies.items():
        print(f"errors of {kind} ({run.calls.errors[kind]}), first {len(bodies)}:")
        for body in bodies:
            print(f"  {body}")


async def main_async(args: argparse.Namespace, urls: list[str], keys: str) -> int:
    agent_keys = [k.split(":", 1)[1] for k in keys.split(",") if k.split(":", 1)[0] in ("agent", "admin")]
    knowledge = [k.split(":", 1)[1] for k in keys.split(",") if k.split(":", 1)[0] in ("knowledge", "admin")]
    if not agent_keys or not knowledge:
        raise SystemExit("load.py: the keys need an agent (or admin) key and a knowledge (or admin) key")
    most = max(_steps(args.knee) or [args.agents])
    limits = httpx.Limits(max_connections=most + 20, max_keepalive_connections=most + 20)
    clients = [httpx.AsyncClient(base_url=u, timeout=60, limits=limits) for u in urls]
    secret = os.environ.get("TACTFUL_CHATWOOT_WEBHOOK_SECRET") if args.webhooks else None
    if args.webhooks and not secret:
        raise SystemExit("load.py: --webhooks needs TACTFUL_CHATWOOT_WEBHOOK_SECRET (the cluster's, with --url)")
    target = Target(clients, agent_keys, knowledge[0], webhook_secret=secret, webhook_lead=args.webhook_lead,
                    rng=random.Random(args.seed + 2))  # fmt: skip
    try:
        started = time.monotonic()
        await load_demo_kb(target)
        print(f"demo knowledge base indexed in {time.monotonic() - started:.0f} s", flush=True)
        if args.knee:
            return await knee(target, args)
        run = await run_agents(target, args.agents, duration=args.duration, seed=args.seed,
                               reindex_at=None if args.no_reindex else args.reindex_at)  # fmt: skip
        report(run, agents=args.agents, duration=args.duration)
        failed = sum(run.calls.errors.values()) or (run.job is not None and run.job.get("status") != "succeeded")
        return 1 if failed else 0
    finally:
        for client in clients:
            await client.aclose()


def _steps(knee: str | None) -> list[int]:
    return [int(n) for n in knee.split(",")] if knee else []


async def knee(target: Target, args: argparse.Namespace) -> int:
    """One step per agent count (no re-index): where p95 of the assist call passes ``--slo-ms``."""
    rows, passed = [], None
    if args.warmup > 0:  # every web process pays its first calls here, not in the first step of the curve
        first = _steps(args.knee)[0]
        await run_agents(target, first, duration=args.warmup, seed=args.seed + 1, reindex_at=None, ramp=args.ramp)
        print(f"warm-up: {first} agents for {args.warmup:.0f} s (not counted)", flush=True)
    for agents in _steps(args.knee):
        run = await run_agents(target, agents, duration=args.duration, seed=args.seed, reindex_at=None, ramp=args.ramp)
        report(run, agents=agents, duration=args.duration)
        # A step of 45 s opens one conversation per agent, a real shift one every several minutes: openings (their
        # every turn embedded) would weigh ten times their share, so the knee is on the assists of conversations
        # under way once every agent opened its own (``--ramp``); openings are in each step's table.
        samples = run.calls.latencies.get(TYPED, []) + run.calls.latencies.get(TURN, []) or [0.0]
        p95 = percentile(samples, 95)
        rows.append(f"| {agents} | {len(samples)} | {sum(run.calls.errors.values())} | "
                    f"{percentile(samples, 50):.0f} | {p95:.0f} | {percentile(samples, 99):.0f} | "
                    f"{min(run.load):.1f}-{max(run.load):.1f} |")  # fmt: skip
        if p95 > args.slo_ms:
            passed = agents
            break
    print(
        f"\nknee (assists of conversations under way: the last {args.duration - args.ramp:.0f} s of each {args.duration:.0f} s step):"
    )
    print("| agents | assists | errors | p50 ms | p95 ms | p99 ms | load average |\n|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if passed is None:
        print(f"p95 stayed under {args.slo_ms:.0f} ms up to {_steps(args.knee)[-1]} agents")
    else:
        print(f"p95 passes {args.slo_ms:.0f} ms at {passed} agents")
    return 0


@contextmanager
def cluster(data_dir: Path, keys: str) -> Iterator[list[str]]:
    """``scripts/cluster up`` in ``data_dir`` (whose cluster must not exist yet), always followed by ``down``."""
    if (data_dir / "cluster" / "state.json").exists():
        raise SystemExit(f"load.py: a cluster is already up in {data_dir}: not touching it")
    env = {**os.environ, "TACTFUL_API_KEYS": keys, "TACTFUL_DATA_DIR": str(data_dir)}
    for name in ("TACTFUL_LLM_BASE_URL", "TACTFUL_LLM_API_KEY", "TACTFUL_LLM_MODEL"):
        env.pop(name, None)  # the rules engine: figures for the service, not for an LLM endpoint
    try:
        print(f"starting the cluster in {data_dir} ...", flush=True)
        started = time.monotonic()
        up = subprocess.run([str(CLUSTER), "up"], env=env, capture_output=True, text=True, timeout=900)
        if up.returncode != 0:
            raise SystemExit(f"load.py: scripts/cluster up failed:\n{up.stderr}")
        urls = [line.split()[1] for line in up.stdout.splitlines() if line.startswith("web ")]
        print(f"cluster up in {time.monotonic() - started:.0f} s: {' '.join(urls)}", flush=True)
        yield urls
    finally:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave it running
        try:
            if (data_dir / "cluster" / "state.json").exists():
                down = subprocess.run([str(CLUSTER), "down"], env=env, capture_output=True, text=True, timeout=300)
                print(f"scripts/cluster down: {(down.stdout or down.stderr).strip()}", flush=True)
        finally:
            signal.signal(signal.SIGINT, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the run as Ctrl-C does, so the cluster is stopped


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--duration", type=float, default=120, help="seconds of load (per step with --knee)")
    parser.add_argument("--url", action="append", default=[], help="a web server of a cluster already up (repeat)")
    parser.add_argument("--keys", default="", help="role:key pairs for --url (default: TACTFUL_API_KEYS)")
    parser.add_argument("--reindex-at", type=float, default=20, help="seconds into the run to start the re-index")
    parser.add_argument("--no-reindex", action="store_true")
    parser.add_argument("--knee", metavar="N,N,...", help="agent counts to step through (no re-index)")
    parser.add_argument(
        "--ramp",
        type=float,
        default=10,
        help="with --knee: seconds in which agents open their "
        "conversations, at the start of each step (its assists are not in the knee)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=30,
        help="with --knee: seconds of load with the first step's agents before the steps, not counted (0: none)",
    )
    parser.add_argument(
        "--webhooks",
        action="store_true",
        help="the helpdesk (Chatwoot) posts each message to the service before the sidebar assists",
    )
    parser.add_argument(
        "--webhook-lead",
        type=float,
        default=1.0,
        help="with --webhooks: seconds between the webhook's answer and the sidebar's assist",
    )
    parser.add_argument("--slo-ms", type=float, default=150)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, help="where the started cluster lives (default: a fresh temp dir)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; load average before the run {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    if args.url:
        return asyncio.run(main_async(args, args.url, args.keys or os.environ.get("TACTFUL_API_KEYS", "")))
    most = max(_steps(args.knee) or [args.agents])
    keys = ",".join([f"knowledge:kno-{secrets.token_urlsafe(12)}"]
                    + [f"agent:age-{secrets.token_urlsafe(12)}" for _ in range(most)])  # fmt: skip
    if args.webhooks:  # the cluster's web servers take the helpdesk's signed webhooks
        os.environ.setdefault("TACTFUL_CHATWOOT_WEBHOOK_SECRET", secrets.token_urlsafe(24))
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="tactful-load-"))
    with cluster(data_dir.resolve(), keys) as urls:
        return asyncio.run(main_async(args, urls, keys))


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("load.py: interrupted (the cluster it started is stopped)", file=sys.stderr)
        raise SystemExit(130) from None
