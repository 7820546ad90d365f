"""The learned sarcasm scorer: cached per sentence, read beside the draft and the customer's message, turned into
findings an agent can act on (a span, a reason, a better wording), and overruling phrases in sincere sentences.

The real bundled e5 model and the shipped weights: what these tests assert is what the product does. How well
it does it is measured by ``tactful eval sarcasm`` on drafts nobody fitted on (docs/evaluation.md)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from fastapi.testclient import TestClient

from assist.sarcasm import RankHead, SarcasmModel, SarcasmScorer, design, shipped_model
from assist.tone import check_tone
from kb_index.embeddings import SentenceVectors
from tests.conftest import auth


class CountingVectors:
    """The real sentence embedder, counting what it is asked to embed."""

    def __init__(self) -> None:
        self.inner = SentenceVectors(encoder_patch=shipped_model().encoder)
        self.embedded: list[str] = []

    def embed_sentences(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded += list(texts)
        return self.inner.embed_sentences(texts)


@pytest.fixture(scope="module")
def scorer() -> SarcasmScorer:
    return SarcasmScorer(SentenceVectors(encoder_patch=shipped_model().encoder))


def test_each_sentence_is_embedded_once_and_an_edit_embeds_only_the_new_sentence() -> None:
    vectors = CountingVectors()
    scorer = SarcasmScorer(vectors)
    sentences = ["Your parcel left the warehouse today.", "The courier delivers tomorrow."]
    first = scorer.scores(sentences, context="Where is my parcel?")
    assert sorted(vectors.embedded) == sorted([*sentences, "Where is my parcel?"])
    assert scorer.scores(sentences, context="Where is my parcel?") == first
    edited = [*sentences[:1], "The courier delivers on Monday."]
    scorer.scores(edited, context="Where is my parcel?")
    assert vectors.embedded[3:] == ["The courier delivers on Monday."]


def test_the_model_reads_each_sentence_beside_the_draft_and_the_customer_message() -> None:
    model = shipped_model()
    sentences = np.eye(3, 384, dtype=np.float32)
    rows = design(sentences, None)
    assert rows.shape == (3, 3 * 384) == (3, model.weights.shape[0])
    assert np.allclose(rows[:, 384:768], sentences.mean(axis=0)) and not rows[:, 768:].any()
    context = np.ones(384, dtype=np.float32)
    assert np.allclose(design(sentences, context)[:, 768:], 1.0)
    assert 0.0 < model.threshold < 1.0 and model.confirm_floor >= 0.0


def test_empty_and_blank_sentences_score_zero_without_embedding() -> None:
    vectors = CountingVectors()
    scorer = SarcasmScorer(vectors)
    assert scorer.scores(["", "   "]) == [0.0, 0.0] and vectors.embedded == []


def test_a_confident_model_turns_a_sentence_into_a_finding_with_span_reason_and_better_wording() -> None:
    """A model whose weights put every sentence far above the threshold: the mechanics, in each language."""
    shipped = shipped_model()
    always = SarcasmModel(weights=np.zeros_like(shipped.weights), bias=5.0, threshold=0.5)
    scorer = SarcasmScorer(SentenceVectors(), model=always)
    drafts = {
        "en": "Hi Ada, thanks a lot for the reminder every five minutes? Your refund is approved.",
        "it": "Ciao Ada, grazie mille per il promemoria ogni cinque minuti? Il rimborso è approvato.",
        "es": "Hola Ada, ¿gracias por el recordatorio cada cinco minutos? El reembolso está aprobado.",
        "pl": "Dzień dobry Ado, dzięki za przypomnienie co pięć minut? Zwrot został zatwierdzony.",
    }
    for language, draft in drafts.items():
        report = check_tone(draft, language=language, customer_name="Ada", sarcasm=scorer)
        irony = [i for i in report.issues if i.kind == "irony"]
        assert irony, language
        for issue in irony:
            span = draft[issue.start : issue.end]
            assert span and span in draft and not span.startswith(("Hi", "Ciao", "Hola", "Dzień"))  # greeting kept
            assert issue.dimension == "non_sarcastic" and len(issue.message) > len(span) + 10
            assert issue.suggestion and issue.suggestion != span
        assert report.rewrite is not None and irony[0].start >= 0
        assert draft[irony[0].start : irony[0].end] not in report.rewrite
        assert report.dimensions.non_sarcastic < 0.05


def test_a_probability_below_the_threshold_lowers_the_score_only_from_score_from() -> None:
    """Every sentence at probability 0.4 (bias -0.405), below the threshold 0.9: no issue either way; the
    ``non_sarcastic`` score follows the probability only when the model says so (``score_from``)."""
    zeros = np.zeros_like(shipped_model().weights)
    draft = "Your refund was approved today, Ada."
    cues = check_tone(draft, language="en", customer_name="Ada").dimensions.non_sarcastic  # the phrase cues alone
    assert cues > 0.6
    for score_from, expected in ((None, cues), (0.3, 0.6), (0.5, cues)):
        model = SarcasmModel(weights=zeros, bias=float(np.log(0.4 / 0.6)), threshold=0.9, score_from=score_from)
        report = check_tone(
            draft, language="en", customer_name="Ada", sarcasm=SarcasmScorer(SentenceVectors(), model=model)
        )
        assert not [i for i in report.issues if i.dimension == "non_sarcastic"], score_from
        assert report.dimensions.non_sarcastic == pytest.approx(expected, abs=1e-3), score_from


def test_the_ranking_head_takes_the_place_of_the_irony_cues_and_raises_no_issue() -> None:
    """A head reading the mean sentence vector: with it the score falls with its probability, by at most its span,
    in place of the irony cues' fitted penalty; issues stay with the drafts' model and the phrases."""
    zeros = np.zeros_like(shipped_model().weights)
    draft = "Your refund was approved today, Ada. The money arrives on Friday."
    vectors = SentenceVectors()
    mean = vectors.embed_sentences(["Your refund was approved today, Ada.", "The money arrives on Friday."]).mean(0)
    quiet = SarcasmModel(weights=zeros, bias=-10.0, threshold=0.9)
    cues = check_tone(draft, language="en", customer_name="Ada", sarcasm=SarcasmScorer(vectors, model=quiet))
    assert 0.8 < cues.dimensions.non_sarcastic < 1.0  # the irony cues' penalty, without a head
    scores = []
    for bias, span in ((8.0, 0.15), (0.0, 0.15), (-8.0, 0.15), (8.0, 0.3)):
        head = RankHead(weights=mean.astype(np.float32), bias=bias - float(mean @ mean), span=span)
        model = SarcasmModel(weights=zeros, bias=-10.0, threshold=0.9, rank=head)
        report = check_tone(draft, language="en", customer_name="Ada", sarcasm=SarcasmScorer(vectors, model=model))
        assert report.dimensions.non_sarcastic == pytest.approx(1 - span / (1 + np.exp(-bias)), abs=2e-3)
        assert not [i for i in report.issues if i.dimension == "non_sarcastic"]
        scores.append(report.score)
    assert scores[0] < scores[1] < scores[2] and scores[3] < scores[0]
    # A phrase finding still counts on top of the head's lowering.
    mocking = "Good luck with that, Ada. The money arrives on Friday."
    head = RankHead(weights=mean.astype(np.float32), bias=-8.0 - float(mean @ mean), span=0.15)
    model = SarcasmModel(weights=zeros, bias=-10.0, threshold=0.9, rank=head)
    report = check_tone(mocking, language="en", customer_name="Ada", sarcasm=SarcasmScorer(vectors, model=model))
    assert [i for i in report.issues if i.dimension == "non_sarcastic"] and report.dimensions.non_sarcastic < 0.9
    shipped = SarcasmModel.load()  # a refit of the drafts' model must fit the head again (evals/_sarcasm_rank.py)
    assert shipped.rank is not None and 0 < shipped.rank.span < shipped.threshold
    assert shipped.rank.weights.shape == (shipped.weights.shape[0] // 3,)


def test_a_question_is_explained_as_one() -> None:
    always = SarcasmModel(weights=np.zeros_like(shipped_model().weights), bias=5.0, threshold=0.5)
    sure = SarcasmScorer(SentenceVectors(), model=always)
    question = check_tone("Have you tried reading the email?", language="en", sarcasm=sure).issues[0]
    praise = check_tone("What a brilliant idea to unplug it.", language="en", sarcasm=sure).issues[0]
    assert question.message != praise.message
    assert "question" in question.message and "praise" in praise.message


def test_an_ambiguous_word_in_a_sentence_the_model_finds_sincere_is_not_sarcasm(scorer: SarcasmScorer) -> None:
    for language, text in {
        "en": "Obviously this should never have happened, Sarah, and I'm sorry.",
        "it": "Ovviamente non sarebbe mai dovuto succedere, Sara, e mi dispiace.",
    }.items():
        assert any(i.dimension == "non_sarcastic" for i in check_tone(text, language=language).issues)
        learned = check_tone(text, language=language, sarcasm=scorer)
        assert not any(i.dimension == "non_sarcastic" for i in learned.issues), language


def test_an_unambiguous_phrase_stays_flagged_whatever_the_model_says(scorer: SarcasmScorer) -> None:
    report = check_tone("As I already said, you need to wait. Good luck with that.", language="en", sarcasm=scorer)
    assert any(i.kind == "sarcasm" for i in report.issues)


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("", 422),
        ("🙂🙂🙂 👍", 200),
        ("x" * 20_000, 200),
        ("Obrigado pela paciência, o seu pedido chegará amanhã.", 200),  # Portuguese: checked with a fallback bank
        ("Thanks for waiting. Grazie per la pazienza. Gracias por esperar. Dziękuję za cierpliwość.", 200),
    ],
)
def test_odd_drafts_get_a_clear_answer(kb_app: TestClient, text: str, status: int) -> None:
    r = kb_app.post("/v1/tone", json={"text": text}, headers=auth("agent"))
    assert r.status_code == status, r.text
    if status == 200:
        assert r.json()["language"] and 0.0 <= r.json()["score"] <= 1.0
    else:
        assert r.json()["error"]["field"] == "text"


def test_a_long_paste_of_sentences_is_checked_in_bounded_time(kb_app: TestClient) -> None:
    text = " ".join(f"Sentence number {i} about your parcel." for i in range(400))
    r = kb_app.post("/v1/tone", json={"text": text}, headers=auth("agent"))
    assert r.status_code == 200
