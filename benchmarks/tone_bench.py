"""Speed of the tone check with the learned sarcasm scorer (a benchmark, not a test), beside the phrase banks alone.

    .venv/bin/python benchmarks/tone_bench.py

- the tone check of a 100-word draft: phrases alone, and with the scorer once every sentence is cached;
- what a new sentence costs (its e5 embedding), and a typing agent: one draft growing word by word;
- the assist after a draft edit on the demo knowledge base (rules, tone included), with and without the scorer.

Prints a Markdown table; paste it into docs/benchmarks.md with the command and the machine.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.container import DEMO_CONVERSATIONS, DEMO_KB
from assist.engine import AssistEngine
from assist.models import Conversation
from assist.sarcasm import SarcasmScorer, shipped_model
from assist.tone import check_tone
from benchmarks.bench import DRAFT_100, _PassageAdapter, percentiles, timed
from kb_index.embeddings import E5Embeddings, SentenceVectors
from kb_index.indexing import Indexer
from kb_index.loaders import iter_paths, load_path
from kb_index.neutral import LanguageNeutralEmbeddings
from kb_index.retrieval import HybridRetriever
from kb_index.store import ChromaStore

REPEAT = 500
NEW_SENTENCES = 40


def main() -> None:
    model = shipped_model()
    start = time.perf_counter()
    SentenceVectors(encoder_patch=model.encoder).embed_sentences(["Hello."])  # builds and loads the model once
    loaded = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    plain = SentenceVectors()
    plain.embed_sentences(["Hello."])
    plain_loaded = (time.perf_counter() - start) * 1000
    scorer = SarcasmScorer(SentenceVectors(encoder_patch=model.encoder), model=model)
    rows: list[tuple[str, str, str]] = [
        ("sentence model ready (first sentence, once per process)", f"{loaded:.0f} ms "
         f"({'fine-tuned layers laid over e5' if model.encoder else 'plain e5'})", f"{plain_loaded:.0f} ms (plain e5)")
    ]  # fmt: skip
    t50, t95 = timed(lambda: check_tone(DRAFT_100, language="en", customer_name="Ada"), REPEAT)
    check_tone(DRAFT_100, language="en", customer_name="Ada", sarcasm=scorer)  # every sentence embedded once
    c50, c95 = timed(lambda: check_tone(DRAFT_100, language="en", customer_name="Ada", sarcasm=scorer), REPEAT)
    rows.append(("tone check, 100 words, p50 / p95", f"{c50:.2f} / {c95:.2f} ms (sentences cached)",
                 f"{t50:.2f} / {t95:.2f} ms (phrases alone)"))  # fmt: skip
    fresh = []
    for i in range(NEW_SENTENCES):
        draft = DRAFT_100 + f" I will call the courier at {i + 1} o'clock and write to you again right after."
        start = time.perf_counter()
        check_tone(draft, language="en", customer_name="Ada", sarcasm=scorer)
        fresh.append((time.perf_counter() - start) * 1000)
    f50, f95 = percentiles(fresh)
    bare = []
    for i in range(NEW_SENTENCES):
        start = time.perf_counter()
        plain.embed_sentences([f"I will call the courier at {i + 1} o'clock and write to you again right after."])
        bare.append((time.perf_counter() - start) * 1000)
    b50, b95 = percentiles(bare)
    rows.append(("tone check with one new sentence (its embedding), p50 / p95", f"{f50:.1f} / {f95:.1f} ms",
                 f"{b50:.1f} / {b95:.1f} ms (the sentence's plain e5 embedding alone)"))  # fmt: skip
    words = DRAFT_100.split()
    typing = []
    for n in range(1, len(words) + 1):
        start = time.perf_counter()
        check_tone(" ".join(words[:n]) + "x", language="en", customer_name="Ada", sarcasm=scorer)
        typing.append((time.perf_counter() - start) * 1000)
    y50, y95 = percentiles(typing)
    rows.append(("an agent typing (each keystroke changes the last sentence), p50 / p95",
                 f"{y50:.1f} / {y95:.1f} ms", "n/a"))  # fmt: skip
    rows += assist_rows(scorer)
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}\n")  # fmt: skip
    print("| measure | learned sarcasm scorer | baseline |\n|---|---|---|")
    for name, ours, base in rows:
        print(f"| {name} | {ours} | {base} |")


def assist_rows(scorer: SarcasmScorer) -> list[tuple[str, str, str]]:
    """The sidebar's most frequent call: the customer's turns unchanged, the draft edited."""
    with tempfile.TemporaryDirectory() as folder:
        e5 = E5Embeddings()
        store = ChromaStore.open(data_dir=Path(folder), url="", embeddings=LanguageNeutralEmbeddings(e5))
        indexer = Indexer(store, create_engine(f"sqlite:///{folder}/records.db"))
        indexer.sync("tactful_chunks_v1", [load_path(p, root=DEMO_KB) for p in iter_paths([DEMO_KB])])
        retriever = HybridRetriever(store)
        retriever.load("tactful_chunks_v1")
        adapter = _PassageAdapter(retriever)
        convs = [Conversation.model_validate(c) for c in json.loads(DEMO_CONVERSATIONS.read_text(encoding="utf-8"))]
        drafts = [DRAFT_100.replace("12 November", f"{d} November") for d in range(1, 31)]
        out = []
        results = {}
        for label, engine in (("with", AssistEngine(adapter, sarcasm=scorer)), ("without", AssistEngine(adapter))):
            for conv in convs:
                for draft in drafts:
                    engine.assist(conv, draft=draft)  # customer turns and draft sentences seen once
            counter = iter(range(10**9))

            def edit(engine: AssistEngine = engine, counter: Iterator[int] = counter) -> None:
                k = next(counter)
                engine.assist(convs[k % len(convs)], draft=drafts[k % len(drafts)])

            results[label] = timed(edit, REPEAT)
        (w50, w95), (o50, o95) = results["with"], results["without"]
        out.append(("assist after a draft edit (demo KB, sentences seen), p50 / p95", f"{w50:.1f} / {w95:.1f} ms",
                    f"{o50:.1f} / {o95:.1f} ms (phrases alone)"))  # fmt: skip
        return out


if __name__ == "__main__":
    main()
