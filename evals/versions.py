"""Language versions found by content (``kb_index.versions``): documents that declare no topic and whose ids
carry no language suffix, grouped with their versions in other languages, or not.

Knowledge bases with the ids and topics that group their versions taken away (every document's id becomes a slug
of its title, and no ``topic``), uploaded one document per job in a shuffled order, as a team adding articles one
by one would:

- ``dev`` (the thresholds were chosen on these): the bundled demo knowledge base (24 articles, 10 topics in two
  languages, 4 in one; written for this project), and xSID's development sentences (``evals/data/xsid``, written
  by others) as a list document per intent and language (16 intents in English, Italian and German: the same
  sentences translated), titled by its first sentence;
- ``held_out``: the same from xSID's knowledge-base sentences (other sentences of the same intents).

A pair of documents in different languages counts as grouped when they end with one topic. Precision: the share
of grouped pairs that are versions of one another; recall: the share of version pairs grouped. ``--split dev``
also prints the sweep of ``THRESHOLD``, ``MARGIN`` and ``SPREAD`` over the documents' profiles (the same function,
without the service). Through the service, ``SEEDS`` upload orders (the grouping is over the whole knowledge base
each time, so the order should not matter).

    .venv/bin/tactful eval versions --split dev
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from dataclasses import replace
from functools import partial
from itertools import combinations

from evals._demo import demo_container
from evals._layout_data import XSID, XSID_LANGUAGES
from kb_index.documents import DETECTED_TOPIC, TOPIC_KEY, SourceDocument
from kb_index.versions import MARGIN, SPREAD, THRESHOLD, free_documents, group_versions, profile_of

SEEDS = (1, 2)
THRESHOLDS = (0.85, 0.88, 0.90, 0.92)
MARGINS = (0.0, 0.005)
SPREADS = (0.01, 0.02, 0.03, 0.05)


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:60] or "doc"


def anonymised(doc: SourceDocument) -> SourceDocument:
    """``doc`` as a team that never named its versions would upload it: id from its title, no topic."""
    meta = {k: v for k, v in doc.metadata.items() if k not in (TOPIC_KEY, DETECTED_TOPIC)}
    return replace(doc, id=_slug(doc.title), metadata=meta)


def demo_documents() -> list[tuple[SourceDocument, str]]:
    """The demo knowledge base's articles, anonymised, each with its gold topic."""
    from api.container import DEMO_KB
    from kb_index.loaders import iter_paths, load_path

    docs = [load_path(p, root=DEMO_KB) for p in iter_paths([DEMO_KB])]
    return [(anonymised(d), d.topic) for d in docs]


def xsid_documents(split: str = "kb") -> list[tuple[SourceDocument, str]]:
    """A list document per xSID intent and language, from the sentences of ``split``, titled by the first one."""
    rows = [json.loads(line) for line in XSID.read_text(encoding="utf-8").splitlines() if line.strip()]
    out = []
    for language in XSID_LANGUAGES:
        by_intent: dict[str, list[str]] = {}
        for row in rows:
            if row["split"] == split:
                by_intent.setdefault(row["intent"], []).append(row[language])
        for intent, texts in sorted(by_intent.items()):
            doc = SourceDocument(id="", title=texts[0], text="\n".join(texts) + "\n", format="text", language=language)
            out.append((anonymised(doc), intent))
    return out


SETS = {
    "dev": {"demo knowledge base": demo_documents, "xSID development sentences": partial(xsid_documents, "dev")},
    "held_out": {"xSID knowledge-base sentences": xsid_documents},
}


def pair_scores(gold: dict[str, str], found: dict[str, str], languages: dict[str, str]) -> tuple[float, float, int]:
    """Precision and recall of the cross-language pairs grouped (``found``: each document's final topic), and how
    many documents were put in a group that is not theirs."""
    tp = fp = fn = 0
    for a, b in combinations(sorted(gold), 2):
        if languages[a] == languages[b]:
            continue
        same_gold, same_found = gold[a] == gold[b], found[a] == found[b]
        tp += same_gold and same_found
        fp += same_found and not same_gold
        fn += same_gold and not same_found
    wrong = sum(
        any(found[o] == found[d] and gold[o] != gold[d] for o in gold if o != d and languages[o] != languages[d])
        for d in gold
    )
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1), wrong


def sweep(sets: dict[str, list[tuple[SourceDocument, str]]]) -> list[str]:
    """The grouping over each set's profiles (computed directly, the same function as the service's; the result
    does not depend on the upload order), for each threshold, margin and spread."""
    from kb_index.embeddings import E5Embeddings
    from kb_index.neutral import LanguageNeutralEmbeddings

    embeddings = LanguageNeutralEmbeddings(E5Embeddings(query_cache=0))
    prepared = []
    for pairs in sets.values():
        docs = [d for d, _ in pairs]
        free = free_documents(docs)
        profiles = [profile_of(d, embeddings, free=d.id in free) for d in docs]
        prepared.append((docs, {d.id: g for d, g in pairs}, {d.id: d.language for d in docs}, profiles))
    names = " | ".join(f"{n}: precision / recall / wrongly grouped" for n in sets)
    lines = ["Sweep over the development sets (profiles computed directly):", "",
             f"| threshold | margin | spread | {names} |", "|---|---|---|" + "---|" * len(sets)]  # fmt: skip
    for threshold in THRESHOLDS:
        for margin in MARGINS:
            for spread in SPREADS:
                cells = []
                for docs, gold, languages, profiles in prepared:
                    found = group_versions(profiles, threshold=threshold, margin=margin, spread=spread)
                    p, r, w = pair_scores(gold, {d.id: d.topic for d in docs} | found, languages)
                    cells.append(f"{p:.3f} / {r:.3f} / {w}")
                lines.append(f"| {threshold:.2f} | {margin:.3f} | {spread:.2f} | " + " | ".join(cells) + " |")
    return lines


def through_service(name: str, pairs: list[tuple[SourceDocument, str]]) -> list[str]:
    """Each seed: a fresh service, the documents uploaded one per job in a shuffled order, the topics read back."""
    from api.persistence import knowledge_repo as repo

    gold = {d.id: g for d, g in pairs}
    languages = {d.id: d.language for d, _ in pairs}
    rows = []
    for seed in SEEDS:
        order = [d for d, _ in pairs]
        random.Random(seed).shuffle(order)
        with demo_container("tactful-versions-", index_demo=False) as container:
            for doc in order:
                container.knowledge.wait(str(container.knowledge.submit_documents([doc])["job_id"]), timeout=600)
            with container.db.session() as s:
                found = {r.id: repo.to_source(r).topic for r in repo.all_documents(s)}
        rows.append((seed, *pair_scores(gold, found, languages)))
    p, r, w = (sum(x[i] for x in rows) / len(rows) for i in (1, 2, 3))
    out = [f"Through the service, {name}: {len(pairs)} documents, one per upload, threshold {THRESHOLD}, "
           f"margin {MARGIN}, spread {SPREAD}:", "", "| upload order (seed) | precision | recall | documents wrongly grouped |",
           "|---|---|---|---|"]  # fmt: skip
    out += [f"| {seed} | {pp:.3f} | {rr:.3f} | {ww} |" for seed, pp, rr, ww in rows]
    out.append(f"| mean | {p:.3f} | {r:.3f} | {w:.1f} |")
    return out


def evaluate(data: object = None, *, limit: int = 0, split: str = "dev") -> str:
    del data, limit  # the sets live in the repository
    lines: list[str] = []
    for key in ("dev", "held_out") if split == "both" else (split,):
        sets = {name: load() for name, load in SETS[key].items()}
        if key == "dev":
            lines += [*sweep(sets), ""]
        for name, pairs in sets.items():
            lines += [*through_service(name, pairs), ""]
    return "\n".join(lines)
