"""The gap-threshold calibration's arithmetic (the script itself runs on ../shared/eval, not in tests)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evals.gaps import GAP_QUERIES, Separation, left_out


def test_the_threshold_separates_gaps_from_answered_questions_halfway() -> None:
    sep = Separation(answered=np.array([0.90, 0.88, 0.86, 0.84]), gaps=np.array([0.80, 0.82, 0.85]))
    threshold = sep.best_threshold()
    # Below 0.855: every gap and one answered question (J = 1 - 1/4); below 0.83 only two gaps (J = 2/3).
    assert threshold == pytest.approx(0.855)
    caught, false, precision = sep.rates(threshold)
    assert (caught, false, precision) == (1.0, 0.25, 0.75)
    assert sep.rates(0.83)[:2] == (pytest.approx(2 / 3), 0.0)
    assert sep.auc == pytest.approx(11 / 12)


def test_perfectly_separated_scores_have_an_auc_of_one() -> None:
    sep = Separation(answered=np.array([0.9, 0.95]), gaps=np.array([0.7, 0.8]))
    assert sep.auc == 1.0
    assert sep.rates(sep.best_threshold())[:2] == (1.0, 0.0)


def test_a_quarter_of_the_intents_is_left_out_of_the_knowledge_base() -> None:
    intents = [f"intent_{i:02d}" for i in range(77)] * 2
    missing = left_out(intents)
    assert len(missing) == 19 and "intent_03" in missing and "intent_00" not in missing


def test_the_gap_questions_cover_the_four_languages_evenly() -> None:
    items = json.loads(GAP_QUERIES.read_text(encoding="utf-8"))["questions"]
    languages = [item["language"] for item in items]
    assert {lang: languages.count(lang) for lang in set(languages)} == {"en": 6, "it": 6, "es": 6, "pl": 6}
    # Development and held-out halves (every other question) both hold every language.
    assert {item["language"] for item in items[0::2]} == {item["language"] for item in items[1::2]} == set(languages)
