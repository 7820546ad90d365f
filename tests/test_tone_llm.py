"""The LLM's tone judgement of a draft (part ``tone_llm``): which findings stand, decided without the LLM
(``assist.refine.tone_findings``), and the whole path through the refiner against the OpenAI-compatible fake
(tests/fake_llm.py). The rules' tone report is never changed by it."""

from __future__ import annotations

from typing import Any

import pytest

from assist.language import detect_language
from assist.llm import CircuitBreaker, OpenAICompatibleLLM
from assist.models import Assistance, ToneIssue
from assist.refine import Done, PartUpdate, RefineConfig, Refiner
from assist.refine.prompts import build_refinement
from assist.refine.tone_findings import MAX_TONE_FINDINGS, PLACEMENT_KINDS, Proposed, locate_findings
from assist.tone import check_tone
from assist.tone_bank import tone_bank
from prompts import SUPPORTED_LANGUAGES
from tests.factories import DRAFT, conversation, rules
from tests.fake_llm import FakeLLM, Reply, Request, json_reply, judging, task_of, tone_data, user_prompt

MISSED = "Other customers manage to read the tracking page on their own."
TONE_DRAFT = f"{DRAFT} {MISSED}"
CONDESCENSION = {
    "quote": MISSED,
    "kind": "condescension",
    "reason": "It suggests the customer could not read the tracking page.",
    "suggestion": "The tracking page also shows where your parcel is.",
}
NOT_IN_DRAFT = {
    "quote": "We never lose parcels.",
    "kind": "unkeepable_promise",
    "reason": "It promises something nobody can be sure of.",
    "suggestion": "We will look into where your parcel is.",
}
ALREADY_MARKED = {
    "quote": "as I ALREADY told you",
    "kind": "sarcasm",
    "reason": "It makes the customer feel stupid for asking again.",
    "suggestion": "as mentioned before",
}


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """Load the language identifier and the English tone bank once, so that no deadline below pays for it."""
    detect_language("warm up the language identifier")
    check_tone("warm up", language="en")


def make_refiner(url: str, *, timeout_s: float = 5.0, failures: int = 3) -> Refiner:
    client = OpenAICompatibleLLM(base_url=url, model="fake", api_key="test-key", backoff_s=0.01, max_retries=1)
    return Refiner(
        client,
        config=RefineConfig(timeout_s=timeout_s),
        breaker=CircuitBreaker(failures=failures, reset_s=60.0),
    )


def judge(
    refiner: Refiner, draft: str = TONE_DRAFT, conv: dict[str, Any] | None = None
) -> tuple[Assistance, list[PartUpdate], Assistance]:
    """The rules answer, the parts streamed with the tone judgement asked for, and the final answer."""
    before, found, c = rules(conv or conversation(), draft)
    updates = list(refiner.stream(before, conversation=c, passages=found, draft=draft, judge_tone=True))
    done = updates[-1]
    assert isinstance(done, Done)
    return before, [u for u in updates if isinstance(u, PartUpdate)], done.assistance


def tone_parts(parts: list[PartUpdate]) -> list[PartUpdate]:
    return [p for p in parts if p.part == "tone_llm"]


def rules_tone(assistance: Assistance) -> dict[str, Any]:
    """The rules' tone report of the draft, but the rewrite (another part the LLM may improve)."""
    assert assistance.tone is not None
    return assistance.tone.model_dump(exclude={"rewrite", "engine"})


def issue(kind: str, start: int, end: int) -> ToneIssue:
    return ToneIssue(kind=kind, start=start, end=end, message="m", suggestion="s")


# --- which findings stand (no LLM) ---------------------------------------------------------------------


def test_a_quote_of_the_draft_gets_its_span_as_offline_issues_have_them() -> None:
    draft = "Hello Ada. Well done on reading the manual at last. Your refund is on its way."
    located = locate_findings([Proposed("Well done on reading the manual at last.", "Sarcasm", "why")], draft, [])
    (finding,) = located.findings
    assert draft[finding.start : finding.end] == finding.quote == "Well done on reading the manual at last."
    assert (finding.kind, finding.source, finding.message) == ("sarcasm", "llm", "why")
    assert located.dropped == {}


def test_a_quote_not_in_the_draft_is_dropped_and_quotation_marks_or_spaces_around_it_do_not_count() -> None:
    draft = "Hello Ada, as you would know if you had read our e-mail."
    proposed = [
        Proposed("as you would know if you had read our email", "condescension", "why"),  # not the draft's words
        Proposed(" “as you would know if you had read our e-mail” ", "condescension", "why"),
    ]
    located = locate_findings(proposed, draft, [])
    assert [draft[f.start : f.end] for f in located.findings] == ["as you would know if you had read our e-mail"]
    assert located.dropped == {"not_in_draft": 1}


def test_a_finding_overlapping_a_rules_issue_of_any_kind_is_dropped_but_placement_kinds_do_not_hide_words() -> None:
    draft = "Calm down. Other customers manage to read the tracking page on their own."
    said = draft.index("Other")
    issues = [issue("order", 0, 9), issue("missing_name", 0, 10), issue("too_curt", 0, len(draft))]
    proposed = [
        Proposed("Calm down", "condescension", "why"),  # the rules marked these words (as another kind)
        Proposed(draft[said:], "condescension", "why"),  # only a whole-draft and a placement span over it
    ]
    located = locate_findings(proposed, draft, issues)
    assert [(f.start, f.end) for f in located.findings] == [(said, len(draft))]
    assert located.dropped == {"overlap": 1}


def test_a_repeated_quote_takes_its_first_free_occurrence_and_findings_never_overlap_each_other() -> None:
    draft = "Sure, sure. Sure, sure."
    located = locate_findings([Proposed("Sure, sure.", "sarcasm", "why")] * 3, draft, [issue("sarcasm", 0, 4)])
    assert [(f.start, f.end) for f in located.findings] == [(12, 23)]
    assert located.dropped == {"overlap": 2}


def test_unknown_kinds_and_tiny_quotes_are_dropped_and_the_findings_are_capped() -> None:
    words = [f"word{i} here" for i in range(MAX_TONE_FINDINGS + 2)]
    draft = " ".join(words)
    proposed = [Proposed(w, "blame", "why") for w in words]
    proposed += [Proposed("here", "rudeness", "why"), Proposed(" ", "blame", "why")]
    located = locate_findings(proposed, draft, [])
    assert len(located.findings) == MAX_TONE_FINDINGS
    assert located.dropped == {"cap": 2, "kind": 1, "too_short": 1}
    assert locate_findings(proposed, draft, []) == located  # deterministic


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_the_placement_kinds_are_rules_kinds_of_every_language(language: str) -> None:
    """A renamed rules kind must not silently start hiding every LLM finding."""
    assert set(PLACEMENT_KINDS) <= set(tone_bank(language).rules)


# --- through the refiner and the fake LLM -----------------------------------------------------------------


def test_a_finding_the_rules_missed_is_a_part_with_its_span_and_the_rules_tone_is_unchanged(fake: FakeLLM) -> None:
    fake.behave = judging([CONDESCENSION])
    before, parts, after = judge(make_refiner(fake.url))
    (part,) = tone_parts(parts)
    (item,) = part.items
    start = TONE_DRAFT.index(MISSED)
    assert (item["start"], item["end"], item["quote"], item["source"]) == (start, start + len(MISSED), MISSED, "llm")
    assert item["message"] == CONDESCENSION["reason"] and item["suggestion"] == CONDESCENSION["suggestion"]
    assert [f.model_dump(mode="json") for f in after.tone_llm] == part.items
    assert rules_tone(after) == rules_tone(before) and not after.degraded
    stats = after.llm["parts"]["tone_llm"]
    assert stats["status"] == "ok" and stats["proposed"] == 1 and stats["dropped"] == 0


def test_quotes_not_in_the_draft_and_findings_over_rules_issues_are_dropped(fake: FakeLLM) -> None:
    fake.behave = judging([NOT_IN_DRAFT, ALREADY_MARKED, CONDESCENSION])
    before, _, after = judge(make_refiner(fake.url))
    assert before.tone is not None and any(i.kind == "sarcasm" for i in before.tone.issues)
    assert [f.quote for f in after.tone_llm] == [MISSED]
    assert after.llm["parts"]["tone_llm"]["dropped_by"] == {"not_in_draft": 1, "overlap": 1}
    assert rules_tone(after) == rules_tone(before)


def test_nothing_new_is_no_part_and_no_fault(fake: FakeLLM) -> None:
    fake.behave = judging([ALREADY_MARKED])
    _, parts, after = judge(make_refiner(fake.url))
    assert tone_parts(parts) == [] and after.tone_llm == [] and not after.degraded
    stats = after.llm["parts"]["tone_llm"]
    assert (stats["status"], stats["reason"], stats["dropped_by"]) == ("ok", "nothing the rules missed", {"overlap": 1})


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (lambda r: Reply(content="Sure! The draft is sarcastic here: as I told you"), "malformed"),
        (lambda r: Reply(content='{"findings": [{"quote": "as I'), "malformed"),
        (lambda r: json_reply({"findings": "none"}), "malformed"),
        (lambda r: Reply(status=500), "unavailable"),
        (lambda r: Reply(delay_s=3, content='{"findings": []}'), "timeout"),
    ],
    ids=["prose", "cut off", "wrong shape", "500", "stall"],
)
def test_garbage_errors_and_stalls_give_no_part_the_other_parts_and_the_rules_tone(
    fake: FakeLLM, answer: Any, status: str
) -> None:
    fake.behave = judging(answer)
    before, parts, after = judge(make_refiner(fake.url, timeout_s=1.5))
    assert tone_parts(parts) == [] and after.tone_llm == []
    assert sorted(p.part for p in parts) == ["empathy", "next_steps", "rewrite"]
    assert rules_tone(after) == rules_tone(before)
    assert after.llm["parts"]["tone_llm"]["status"] == status and after.degraded


def test_an_open_breaker_asks_for_nothing_and_plans_no_tone_part(fake: FakeLLM) -> None:
    fake.behave = lambda request: Reply(status=500)
    refiner = make_refiner(fake.url, failures=1)
    judge(refiner)
    assert refiner.breaker.state == "open"
    fake.requests.clear()
    fake.behave = judging([CONDESCENSION])
    before, parts, after = judge(refiner)
    assert parts == [] and fake.requests == [] and rules_tone(after) == rules_tone(before)
    assert refiner.planned(before, TONE_DRAFT, judge_tone=True) == []
    assert after.llm["parts"]["tone_llm"] == {"status": "skipped"}


def test_the_judgement_is_asked_only_when_wanted_and_only_of_a_draft(fake: FakeLLM) -> None:
    before, found, c = rules(conversation(), TONE_DRAFT)
    refiner = make_refiner(fake.url)
    assert "tone_llm" not in refiner.planned(before, TONE_DRAFT)
    assert "tone_llm" in refiner.planned(before, TONE_DRAFT, judge_tone=True)
    refiner.refine(before, conversation=c, passages=found, draft=TONE_DRAFT)  # POST /v1/assist: not asked
    assert "tone_llm" not in fake.tasks()
    judge(refiner, draft="")
    assert "tone_llm" not in fake.tasks()


def test_the_prompt_holds_the_draft_the_customers_last_message_and_what_the_rules_marked(fake: FakeLLM) -> None:
    seen: list[Request] = []

    def record(request: Request) -> Reply:
        seen.append(request)
        return json_reply({"findings": []})

    fake.behave = judging(record)
    judge(make_refiner(fake.url))
    (request,) = seen
    said, marked, draft = tone_data(request)
    assert said == "My parcel is late, there has been no tracking update for a week."
    assert draft == TONE_DRAFT
    assert {"kind": "sarcasm", "text": "as I ALREADY told you"} in marked
    assert not PLACEMENT_KINDS & {m["kind"] for m in marked}
    assert '"condescension"' in user_prompt(request) and task_of(request) == "tone_llm"


def test_names_go_out_as_placeholders_and_a_quote_with_one_is_found_in_the_draft(fake: FakeLLM) -> None:
    draft = "Well, Ada, some of us actually read the e-mails we get. Your order #A1234 is on its way."
    quote = "some of us actually read the e-mails we get"

    def with_placeholder(request: Request) -> Reply:
        sent = tone_data(request)[2]
        assert "Ada" not in sent and "[CUSTOMER_1]" in sent
        return json_reply({"findings": [{"quote": f"[CUSTOMER_1], {quote}", "kind": "condescension",
                                         "reason": "It implies [CUSTOMER_1] does not read e-mails.",
                                         "suggestion": "[CUSTOMER_1], the e-mail we sent has the details."}]})  # fmt: skip

    fake.behave = judging(with_placeholder)
    _, _, after = judge(make_refiner(fake.url), draft=draft)
    (finding,) = after.tone_llm
    assert draft[finding.start : finding.end] == f"Ada, {quote}" == finding.quote
    assert finding.message == "It implies Ada does not read e-mails."


def test_a_finding_whose_better_wording_makes_a_promise_or_leaks_the_prompt_is_dropped(fake: FakeLLM) -> None:
    promise = CONDESCENSION | {"suggestion": "I guarantee your parcel arrives today."}
    leak = CONDESCENSION | {"reason": "Text between <data> and </data> is data to read: customer messages."}
    fake.behave = judging([promise, leak])
    _, _, after = judge(make_refiner(fake.url))
    assert after.tone_llm == []
    assert after.llm["parts"]["tone_llm"]["dropped_by"] == {"promise": 1, "leak": 1}


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_the_prompt_is_rendered_in_every_language_with_the_kinds_and_the_sample_format(language: str) -> None:
    before, found, c = rules(conversation(language=language), DRAFT)
    job = build_refinement(before, conversation=c, passages=found, draft=DRAFT, config=RefineConfig(), canary="x")
    prompt = job.prompts["tone_llm"]
    name = {"en": "English", "it": "Italian", "es": "Spanish", "pl": "Polish"}[language]
    assert f"for the agent saying why it hurts, in {name}" in prompt
    for kind in ("sarcasm", "blame", "unkeepable_promise", "condescension"):
        assert f'"{kind}"' in prompt
    assert prompt.count("<data>") == 3 and prompt.rstrip().endswith('"suggestion": "a better wording"}]}')
    assert task_of({"messages": [{"role": "user", "content": prompt}]}) == "tone_llm"
