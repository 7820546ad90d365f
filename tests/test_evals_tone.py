"""The tone evaluation's metrics, fitting and data loaders (evals/_tone_metrics.py, _tone_fit.py, _tone_data.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from evals._tone_data import (
    EMPATHY,
    EMPATHY_FILES,
    IRONY,
    IRONY_FILES,
    POLITENESS,
    POLITENESS_FILES,
    Item,
    load_empathy,
    load_irony,
    load_politeness,
    quartiles,
)
from evals._tone_fit import fit_logistic, fit_signed, models_block
from evals._tone_metrics import accuracy, average_ranks, best_threshold, f1, roc_auc, spearman

DATA = Path(__file__).resolve().parents[2] / "shared" / "eval" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"no evaluation data at {DATA}")


def test_average_ranks_share_ties() -> None:
    assert average_ranks([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]


def test_roc_auc_counts_pairs_and_half_ties() -> None:
    assert roc_auc([0.9, 0.8, 0.2, 0.1], [True, True, False, False]) == 1.0
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == 0.0
    # positives 0.8, 0.4; negatives 0.6, 0.4: pairs won 1 + 0 + 0.5 (tie) + 1 = 2.5 of 4
    assert roc_auc([0.8, 0.4, 0.6, 0.4], [True, True, False, False]) == pytest.approx(0.625)
    assert math.isnan(roc_auc([0.1, 0.2], [True, True]))


def test_spearman_is_rank_correlation() -> None:
    assert spearman([1, 2, 3, 4], [10, 100, 1000, 10000]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # d = (0, 0, 1, -1): 1 - 6 * 2 / (4 * 15) = 0.8 (no ties)
    assert spearman([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(0.8)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))


def test_f1_and_the_threshold_that_maximises_it() -> None:
    assert f1([True, True, False, False], [True, False, True, False]) == pytest.approx(0.5)
    assert f1([False, False], [False, False]) == 0.0
    scores, labels = [0.1, 0.4, 0.35, 0.8], [False, True, False, True]
    assert best_threshold(scores, labels) == 0.4
    assert f1([s >= 0.4 for s in scores], labels) == 1.0


def test_accuracy_and_the_most_accurate_threshold() -> None:
    assert accuracy([True, False, True], [True, True, True]) == pytest.approx(2 / 3)
    # A useless score: F1 is best flagging everything (2/7 beats 0), accuracy by flagging as little as it can.
    scores, labels = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [True, False, False, False, False, False]
    assert best_threshold(scores, labels) == 0.1
    assert best_threshold(scores, labels, by=accuracy) == 0.6


def test_logistic_fit_finds_the_informative_feature() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, size=(400, 2)).astype(float)
    y = (rng.random(400) < np.where(x[:, 0] > 0, 0.9, 0.1)).astype(float)
    w, _bias = fit_logistic(x, y)
    assert w[0] > 2.0 and abs(w[1]) < 0.5


def test_logistic_fit_weights_count_like_repeated_rows() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(120, 3))
    y = (rng.random(120) < 1 / (1 + np.exp(-x[:, 0]))).astype(float)
    weights = rng.integers(1, 4, size=120).astype(float)
    w, b = fit_logistic(x, y, l2=0.1, weights=weights)
    repeated = np.repeat(np.arange(120), weights.astype(int))
    w_rep, b_rep = fit_logistic(x[repeated], y[repeated], l2=0.1)
    assert np.allclose(w, w_rep, atol=1e-6) and b == pytest.approx(b_rep, abs=1e-6)
    assert not np.allclose(w, fit_logistic(x, y, l2=0.1)[0], atol=1e-3)  # the weights did change the fit


def test_signed_fit_leaves_out_a_feature_of_the_wrong_sign() -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(0, 2, size=(400, 2)).astype(float)
    y = (rng.random(400) < np.where(x[:, 1] > 0, 0.85, 0.15)).astype(float)
    free, _ = fit_signed(x, y, [0, 0])
    signed, _ = fit_signed(x, y, [0, -1])
    assert free[1] > 1.0 and signed[1] == 0.0


def test_quartiles_split_on_the_label() -> None:
    items = [Item(str(i), float(i)) for i in range(8)]
    low, high = quartiles(items)
    assert [i.label for i in low] == [0.0, 1.0] and [i.label for i in high] == [6.0, 7.0]


def test_models_block_is_the_toml_the_banks_read() -> None:
    import tomllib

    from evals._tone_fit import SPECS, Fitted

    fitted = [Fitted(SPECS[0], -0.5, {"gratitude": 2.0, "why": -1.5}, 10, 0.9, 0.8)]
    parsed = tomllib.loads(models_block(fitted))
    assert parsed["scoring"]["models"]["professional"] == {"bias": -0.5, "weights": {"gratitude": 2.0, "why": -1.5}}


@needs_data
def test_politeness_loader_reads_requests_and_scores() -> None:
    items = load_politeness(DATA / POLITENESS / POLITENESS_FILES["dev"])
    assert len(items) == 4353
    assert items[0].text.startswith("Where did you learn English?") and items[0].label == pytest.approx(-1.12, abs=0.01)


@needs_data
def test_irony_loader_reads_labels_and_tweets() -> None:
    items = load_irony(DATA / IRONY / IRONY_FILES["dev"])
    assert len(items) == 3834 and {i.label for i in items} == {0.0, 1.0}
    assert items[0].label == 1.0 and items[0].text.startswith("Sweet United Nations video.")
    assert len(load_irony(DATA / IRONY / IRONY_FILES["test"])) == 784


@needs_data
def test_empathy_loader_reads_replies_and_levels() -> None:
    items = load_empathy(DATA / EMPATHY / EMPATHY_FILES["emotional reactions"])
    assert len(items) == 3084 and {i.label for i in items} == {0.0, 1.0, 2.0}
    assert items[0].text.startswith("That's pretty vague") and items[0].label == 0.0


def test_reader_rows_and_majority_of_readers() -> None:
    from evals._sarcasm_data import Draft
    from evals.sarcasm_readers import majority, rows

    def draft(sarcastic: bool, hard: bool = False) -> Draft:
        return Draft("x", "a1", "en", "refund", None, "", "text", sarcastic, None, hard, {})

    drafts = [draft(True), draft(True), draft(True), draft(True), draft(False, hard=True), draft(False)]
    said = [True, True, True, False, True, False]
    row = rows("reader", drafts, said)[-1]  # all languages
    assert row == "| reader | all | 6 | 0.625 | 0.750 | 50.0% | 100.0% |"
    readers = [{"r1": True, "r2": False}, {"r1": True, "r2": True}, {"r1": False, "r2": False}]
    assert majority(readers) == {"r1": True, "r2": False}


def test_blind_readers_label_exactly_the_sample_of_development_drafts() -> None:
    from evals._sarcasm_data import load_drafts, split
    from evals.sarcasm_readers import READERS, load_reader, load_sample

    sample = load_sample()
    development = {d.id: d for d in load_drafts("development")}
    assert len(sample) == 240 and set(sample.values()) <= set(development)  # no held-out draft was shown
    assert not any(draft_id.split("-")[0] in split()["held_out"] for draft_id in sample.values())
    for language in ("en", "it", "es", "pl"):
        chosen = [development[i] for i in sample.values() if development[i].language == language]
        assert sum(d.sarcastic for d in chosen) == 30 and len(chosen) == 60
    for path in sorted(READERS.glob("reader*.jsonl")):
        assert set(load_reader(path)) == set(sample), path.name


def test_llm_tone_findings_pass_through_the_service_checks_in_the_evaluation() -> None:
    from evals.sarcasm_llm import judge, sample_drafts

    english = [rid for rid, d in sample_drafts().items() if d.language == "en" and not d.sarcastic][:3]
    before, _ = judge({}, only=set(english))
    rid = next(j_rid for j_rid, j in zip(english, before, strict=True) if not j.rules)
    draft = sample_drafts({rid})[rid].text
    quote = draft.split(".")[0]  # a sentence of the draft, copied exactly
    finding = {
        "quote": quote,
        "kind": "sarcasm",
        "reason": "The customer will read this sentence as mockery of their request.",
        "suggestion": "Thank you for letting us know about this.",
    }
    invented = {**finding, "quote": "words that are nowhere in this draft at all"}
    answers = {rid: json.dumps({"findings": [finding]})}
    other = next(r for r in english if r != rid)
    answers[other] = json.dumps({"findings": [invented]})
    judged, problems = judge(answers, only={rid, other})
    kinds = {j.draft.text: j.kinds for j in judged}
    assert kinds[draft] == {"sarcasm"}  # located in the draft, kept
    assert kinds[sample_drafts({other})[other].text] == frozenset()  # a quote not in the draft is dropped
    assert problems == {"missing": 0, "malformed": 0}
    _, problems = judge({rid: "not json"}, only={rid})
    assert problems["malformed"] == 1
