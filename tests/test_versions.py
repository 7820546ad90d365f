"""Language versions found by content (kb_index.versions): the rules on vectors, and through the documents API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from kb_index.documents import DETECTED_TOPIC, SourceDocument
from kb_index.versions import Profile, free_documents, group_versions, keep_found_version, with_found_version
from tests.conftest import auth, make_settings

DEMO_KB = Path(__file__).resolve().parent.parent / "kb_index" / "demo_kb"


def _unit(*xs: float) -> np.ndarray:
    v = np.array(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def _profile(doc_id: str, language: str, *xs: float, topic: str = "") -> Profile:
    return Profile(doc_id, language, topic or doc_id, _unit(*xs), fixed=bool(topic))


def test_documents_that_are_each_others_clear_counterparts_share_a_topic() -> None:
    profiles = [
        _profile("rimborsi", "it", 1, 0.1, 0),
        _profile("refunds-en", "en", 1, 0.12, 0, topic="refunds"),
        _profile("refunds-pl", "pl", 1, 0.11, 0, topic="refunds"),
        _profile("wifi", "en", 0.2, 1, 0),
        _profile("rete", "it", 0.25, 1, 0.05),
    ]

    assert group_versions(profiles, threshold=0.9, margin=0.05) == {
        "rimborsi": "refunds",
        "wifi": "rete",
        "rete": "rete",
    }
    assert group_versions(profiles, threshold=0.99999, margin=0.05) == {
        "rimborsi": "rimborsi",
        "wifi": "wifi",
        "rete": "rete",
    }


def test_no_clear_counterpart_no_group() -> None:
    profiles = [_profile("rimborsi", "it", 1, 0.1, 0), _profile("refunds", "en", 1, 0.12, 0),
                _profile("returns", "pl", 1, 0.13, 0.01)]  # fmt: skip

    # Two near-equal counterparts in two languages: neither stands out, nothing is grouped.
    assert group_versions(profiles, threshold=0.9, margin=0.05) == {
        "rimborsi": "rimborsi",
        "refunds": "refunds",
        "returns": "returns",
    }


def test_a_group_never_takes_a_second_version_in_one_language_nor_joins_two_declared_topics() -> None:
    profiles = [
        _profile("rimborsi", "it", 1, 0.1, 0),
        _profile("refunds-en", "en", 1, 0.1, 0, topic="refunds"),
        _profile("refunds-it", "it", 0, 0, 1, topic="refunds"),  # the topic's Italian version, written apart
        _profile("returns-pl", "pl", 1, 0.1, 0, topic="returns"),
    ]

    found = group_versions(profiles, threshold=0.9, margin=0.0)
    assert found == {"rimborsi": "returns"}  # not "refunds" (it has an Italian version); the two topics stay apart


def test_the_grouping_does_not_depend_on_the_order_documents_came_in() -> None:
    profiles = [_profile("a", "en", 1, 0, 0), _profile("b", "it", 1, 0.05, 0), _profile("c", "pl", 0, 1, 0),
                _profile("d", "es", 0.05, 1, 0), _profile("e", "it", 0, 0.1, 1)]  # fmt: skip

    first = group_versions(profiles, threshold=0.9, margin=0.01)
    assert first == group_versions(profiles[::-1], threshold=0.9, margin=0.01)
    assert first == {"a": "a", "b": "a", "c": "c", "d": "c", "e": "e"}


def test_only_documents_with_no_declared_or_id_version_are_looked_at() -> None:
    docs = [
        SourceDocument(id="wifi-en", title="Wi-Fi", text="x", language="en"),
        SourceDocument(id="wifi-it", title="Wi-Fi", text="x", language="it"),  # grouped by id already
        SourceDocument(id="rete", title="Rete", text="x", language="it", metadata={"topic": "network"}),
        SourceDocument(id="router", title="Router", text="x", language="pl"),
        SourceDocument(id="unknown", title="x", text="x"),  # no language known
        SourceDocument(id="found", title="x", text="x", language="es", metadata={DETECTED_TOPIC: "router"}),
        SourceDocument(id="account-locked-es", title="x", text="x", language="es"),  # its id names its topic
    ]

    assert free_documents(docs) == {"router", "found"}  # a topic found before is looked at again


def test_a_document_sent_again_keeps_its_version_unless_its_content_changed() -> None:
    sent = SourceDocument(id="rimborsi", title="Rimborsi", text="Il rimborso arriva.", language="it")
    found = with_found_version(sent, "refunds")

    assert found.topic == "refunds" and with_found_version(found, "rimborsi").metadata == {}
    assert keep_found_version(sent, "", {}) is sent
    assert keep_found_version(sent, found.content_hash, {DETECTED_TOPIC: "refunds"}).topic == "refunds"
    changed = SourceDocument(**{**sent.__dict__, "text": "Il rimborso arriva in 5 giorni."})
    assert keep_found_version(changed, found.content_hash, {DETECTED_TOPIC: "refunds"}).topic == "rimborsi"


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(make_settings(tmp_path / "data", database_url=database_url))) as client:
        yield client


def _article(name: str, new_id: str) -> dict[str, object]:
    """A demo article as a team that never named its versions would send it: a new id, no topic."""
    from kb_index.loaders import load_path

    doc = load_path(DEMO_KB / f"{name}.md", root=DEMO_KB)
    return {"id": new_id, "title": doc.title, "language": doc.language, "kind": doc.kind, "text": doc.text}


def _send(app: TestClient, *docs: dict[str, object]) -> dict[str, object]:
    r = app.post("/v1/documents", json={"documents": list(docs)}, headers=auth("knowledge"))
    assert r.status_code == 202, r.text
    container = app.app.state.container  # type: ignore[attr-defined]
    job: dict[str, object] = container.knowledge.wait(str(r.json()["job_id"]), timeout=300)
    assert job["status"] == "succeeded", job
    return job


def _topics(app: TestClient) -> dict[str, str]:
    items = app.get("/v1/documents", params={"limit": 100}, headers=auth("knowledge")).json()["items"]
    return {d["id"]: d["metadata"].get(DETECTED_TOPIC, "") for d in items}


def test_versions_with_unrelated_ids_are_found_grouped_and_kept(app: TestClient) -> None:
    english = _article("refunds-returns-en", "refunds-and-returns")
    wifi = _article("smart-home-wifi-pl", "wifi-w-domu")
    _send(app, english, wifi)
    italian = _article("refunds-returns-it", "rimborsi-e-resi")
    _send(app, italian)  # a later upload, one document

    found = _topics(app)
    assert found == {"refunds-and-returns": "", "wifi-w-domu": "", "rimborsi-e-resi": "refunds-and-returns"}
    # Grouped as one topic: the gaps report sees one topic in two languages, not two topics in one each.
    container = app.app.state.container  # type: ignore[attr-defined]
    hits = container.knowledge.search("rimborso", k=20)
    assert {h.topic for h in hits if h.document_id == "rimborsi-e-resi"} == {"refunds-and-returns"}

    job = _send(app, italian)  # sent again unchanged: nothing re-indexed, the version kept
    assert job["counts"]["skipped"] == 1  # type: ignore[index]
    assert _topics(app)["rimborsi-e-resi"] == "refunds-and-returns"


def test_a_declared_topic_is_never_replaced_and_a_free_version_joins_it(app: TestClient) -> None:
    english = _article("refunds-returns-en", "refunds-and-returns")
    italian = {**_article("refunds-returns-it", "rimborsi-e-resi"), "topic": "resi"}
    polish = {**_article("smart-home-wifi-pl", "wifi-w-domu"), "topic": "wifi"}
    _send(app, english, italian, polish)

    assert _topics(app) == {"refunds-and-returns": "resi", "rimborsi-e-resi": "", "wifi-w-domu": ""}


def test_a_stored_document_joins_the_version_uploaded_after_it_and_a_reindex_keeps_the_group(app: TestClient) -> None:
    english = _article("refunds-returns-en", "refunds-and-returns")
    _send(app, english)
    _send(app, _article("refunds-returns-it", "a-rimborsi"))  # its id comes first: the group takes it as its topic

    assert _topics(app) == {"refunds-and-returns": "a-rimborsi", "a-rimborsi": ""}
    container = app.app.state.container  # type: ignore[attr-defined]
    hits = container.knowledge.search("refund", k=20, language="en")
    assert {h.topic for h in hits if h.document_id == "refunds-and-returns"} == {"a-rimborsi"}  # its chunks too

    r = app.post("/v1/reindex", json={"mode": "incremental"}, headers=auth("knowledge"))
    assert r.status_code == 202, r.text
    assert container.knowledge.wait(str(r.json()["job_id"]), timeout=300)["status"] == "succeeded"
    assert _topics(app) == {"refunds-and-returns": "a-rimborsi", "a-rimborsi": ""}


def test_past_the_document_limit_nothing_is_grouped_and_nothing_found_before_is_lost(
    app: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import api.services.knowledge as knowledge

    _send(app, _article("refunds-returns-en", "refunds-and-returns"), _article("refunds-returns-it", "a-rimborsi"))
    assert _topics(app) == {"refunds-and-returns": "a-rimborsi", "a-rimborsi": ""}
    monkeypatch.setattr(knowledge, "MAX_DOCUMENTS", 2)  # the grouping's square matrix is bounded
    _send(app, _article("warranty-repairs-it", "garanzia"), _article("warranty-repairs-pl", "gwarancja"))

    assert _topics(app) == {"refunds-and-returns": "a-rimborsi", "a-rimborsi": "", "garanzia": "", "gwarancja": ""}
