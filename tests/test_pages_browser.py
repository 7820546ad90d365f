"""The three pages in a real browser (Debian's chromium through Playwright) against the live service."""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import fake_llm_settings, serving
from tests.fake_llm import EMPATHY, FakeLLM, Reply, Request, good_model, json_reply, judging, task_of

DEMO_KB = Path(__file__).resolve().parent.parent / "kb_index" / "demo_kb"

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists() and os.environ.get("TACTFUL_REQUIRE_BROWSER") == "1":
    raise RuntimeError("scripts/test requires /usr/bin/chromium (scripts/install-browser installs it)")
if not CHROMIUM.exists():
    pytest.skip("the browser tests need Debian's chromium at /usr/bin/chromium", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright (pip install .[dev])")

pytestmark = pytest.mark.browser

Browser = Any
Page = Any
expect = sync_api.expect
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000
# A fresh server's first assist loads the model: under CI's load that took more than Playwright's default 5 s.
expect.set_options(timeout=15_000)
SARCASTIC_DRAFT = (
    "Obviously the parcel is on its way. As I already told you, the tracking updates daily. Good luck with that."
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


SCRIPT_ERRORS: list[str] = []


def new_page(browser: Browser, *, width: int = 1280, height: int = 900) -> Page:
    """A page in a fresh context (its own session storage); script errors are collected for ``close``."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("pageerror", lambda exc: SCRIPT_ERRORS.append(f"{page.url}: {exc}"))
    return page


def close(page: Page) -> None:
    """Close the page's context; fail on any uncaught script error it raised."""
    page.context.close()
    errors = list(SCRIPT_ERRORS)
    SCRIPT_ERRORS.clear()
    assert not errors, errors


def chatwoot_host(page: Page, url: str, context: dict[str, Any], *, src: str, height: int, style: str = "") -> Any:
    """Open a stand-in Chatwoot dashboard on ``page`` that embeds ``src`` (360 px wide, ``height`` tall) and answers
    the sidebar's ``fetch-info`` with ``context``; the sidebar's frame locator."""
    body_style = ' style="margin:0"' if style else ""
    frame_style = f' style="{style}"' if style else ""
    html = f"""<!doctype html><body{body_style}><script>
      window.addEventListener("message", (e) => {{
        if (e.data === "chatwoot-dashboard-app:fetch-info") e.source.postMessage(JSON.stringify({json.dumps(context)}), "*");
      }});
    </script><iframe id="app" src="{src}" width="360" height="{height}"{frame_style}></iframe></body>"""
    page.route(f"{url}/__host", lambda route: route.fulfill(status=200, content_type="text/html", body=html))
    page.goto(f"{url}/__host")
    return page.frame_locator("#app")


def post_chatwoot_message(url: str, secret: str, *, message_id: int, conversation_id: int, delivery: str) -> int:
    """A signed Chatwoot ``message_created`` webhook from the customer Zoe Adams (account 3); its timestamp."""
    import time

    import httpx

    from api.chatwoot import sign

    event = {
        "event": "message_created", "id": message_id, "content": "My parcel is late, where is it?",
        "message_type": "incoming", "created_at": "2026-11-30T10:00:00Z", "private": False,
        "account": {"id": 3}, "sender": {"id": 7, "name": "Zoe Adams", "type": "contact"},
        "conversation": {"id": conversation_id, "account_id": 3, "meta": {"sender": {"id": 7, "name": "Zoe Adams"}},
                         "messages": []},
    }  # fmt: skip
    raw = json.dumps(event).encode()
    stamp = int(time.time())
    headers = {"Content-Type": "application/json", "X-Chatwoot-Timestamp": str(stamp),
               "X-Chatwoot-Signature": sign(secret, raw, stamp), "X-Chatwoot-Delivery": delivery}  # fmt: skip
    assert httpx.post(f"{url}/v1/webhooks/chatwoot", content=raw, headers=headers).status_code == 202
    return stamp


@pytest.fixture
def sidebar(browser: Browser, live_server: str, api_keys: dict[str, str]) -> Iterator[Page]:
    page = new_page(browser, width=360, height=800)
    page.goto(f"{live_server}/sidebar#key={api_keys['agent']}")
    yield page
    close(page)


def scroll_width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def contrast(page: Page, selector: str) -> float:
    """WCAG contrast ratio of the element's text colour on its background (its own, else the page's)."""
    ratio: float = page.evaluate(
        """(selector) => {
          const rgb = (css) => (css.match(/[\\d.]+/g) || []).slice(0, 4).map(Number);
          const lum = ([r, g, b]) => {
            const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
            return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
          };
          const node = document.querySelector(selector);
          let back = getComputedStyle(node).backgroundColor;
          if (rgb(back)[3] === 0) back = getComputedStyle(document.body).backgroundColor;
          const [a, b] = [lum(rgb(getComputedStyle(node).color)), lum(rgb(back))].sort((x, y) => y - x);
          return (a + 0.05) / (b + 0.05);
        }""",
        selector,
    )
    return ratio


def shoot(page: Page, artifacts: Path, name: str) -> Path:
    """A screenshot of the whole page as the agent sees it, kept in the artifacts folder (conftest.py) as
    ``<name>.png``: named helpdesk-width-state, so the folder reads as a list of what was checked."""
    path = artifacts / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000
    return path


def test_sidebar_fits_360px_and_assists_a_demo_conversation(sidebar: Page) -> None:
    assert "key=" not in sidebar.url  # the key leaves the address bar
    assert sidebar.evaluate("sessionStorage.getItem('tactful.key.agent')")
    expect(sidebar.locator("#demo-picker option")).not_to_have_count(1)
    assert scroll_width(sidebar) <= 360

    sidebar.select_option("#demo-picker", index=1)
    expect(sidebar.locator("#results")).to_be_visible()
    expect(sidebar.locator("#level-badge")).to_have_text(re.compile(r"^(no|low|high) touch$"))
    assert sidebar.locator("#level-reasons li").count() >= 1
    assert sidebar.locator("#empathy li.suggestion").count() >= 2
    steps = sidebar.locator("#steps li.step")
    assert steps.count() >= 1
    chip = steps.first.locator("button.chip").first
    quote = steps.first.locator("blockquote.quote").first
    expect(quote).to_be_hidden()
    chip.click()
    expect(quote).to_be_visible()
    expect(chip).to_have_attribute("aria-expanded", "true")
    assert len(quote.inner_text().strip()) > 10
    marked = quote.locator("mark").first  # the cited step, marked inside its section
    expect(marked).to_be_visible()
    assert len(quote.inner_text()) > len(marked.inner_text()) > 10
    assert scroll_width(sidebar) <= 360


def test_sidebar_marks_a_sarcastic_draft_and_the_supervisor_dismisses_its_flag(
    sidebar: Page, browser: Browser, live_server: str, api_keys: dict[str, str]
) -> None:
    conversation = (
        "customer: My parcel is late, the tracking has not moved for a week.\n"
        f"agent: {SARCASTIC_DRAFT}\n"
        "customer: That is not helpful at all."
    )
    sidebar.click("#case-details summary")
    sidebar.fill("#customer-name", "Ada")
    sidebar.fill("#conversation", conversation)
    sidebar.fill("#draft", SARCASTIC_DRAFT)
    marks = sidebar.locator("#tone-draft mark")
    expect(marks.first).to_be_visible()
    marked = " ".join(marks.all_inner_texts()).lower()
    assert "obviously" in marked and "good luck with that" in marked, marked
    assert marks.first.get_attribute("title")  # the issue's message
    expect(sidebar.locator("#flags")).to_contain_text("sarcasm")
    assert scroll_width(sidebar) <= 360

    rewrite = sidebar.locator("#rewrite").text_content() or ""
    assert rewrite and "obviously" not in rewrite.lower()
    sidebar.click("#use-rewrite")
    assert sidebar.input_value("#draft") == rewrite
    expect(sidebar.locator("#tone-draft")).to_have_text(rewrite)  # re-assisted on the new draft
    conversation_id = sidebar.locator("#results").get_attribute("data-conversation-id")

    review = new_page(browser)
    review.goto(f"{live_server}/supervisor#key={api_keys['supervisor']}")
    review.select_option("#f-kind", "sarcasm")
    item = review.locator("#queue li", has_text=conversation_id)
    expect(item).to_have_count(1)
    item.click()
    expect(review.locator("#messages mark").first).to_be_visible()
    flag = review.locator("#conv-flags .flag", has_text="sarcasm")
    flag.locator("input").fill("coaching done")
    flag.get_by_role("button", name="Dismiss").click()
    expect(item).to_have_count(0)
    expect(review.locator("#conv-flags")).to_contain_text("dismissed: coaching done")
    expect(review.locator("#stat-dismissed")).not_to_have_text(re.compile(r"^0 dismissed"))
    close(review)


def test_sidebar_takes_the_chatwoot_app_context_from_an_allowed_origin_only(
    browser: Browser, live_server: str, api_keys: dict[str, str], artifacts: Path
) -> None:
    page = new_page(browser, width=360, height=800)
    host = f"{live_server}/__chatwoot_host"  # same origin as the sidebar, served by the test itself
    context = {
        "event": "appContext",
        "data": {
            "conversation": {
                "id": 4242,
                "channel": "Channel::WebWidget",
                "meta": {"sender": {"name": "Zoe Adams"}},
                "messages": [
                    {"message_type": 0, "content": "My parcel is late.", "private": False},
                    {"message_type": 1, "content": "Internal: check the courier", "private": True},
                    {"message_type": 2, "content": "Conversation was assigned", "private": False},
                    {"message_type": 1, "content": "Let me check that for you.", "private": False},
                ],
            },
            "contact": {"id": 7, "name": "Zoe Adams"},
        },
    }
    html = f"""<!doctype html><body style="margin:0"><script>
      window.asked = 0;
      window.addEventListener("message", (e) => {{
        if (e.data !== "chatwoot-dashboard-app:fetch-info") return;
        window.asked += 1;
        e.source.postMessage(JSON.stringify({json.dumps(context)}), "*");
      }});
    </script><iframe id="app" src="/sidebar#key={api_keys["agent"]}" width="360" height="700"
      style="border:0;display:block"></iframe></body>"""
    page.route(host, lambda route: route.fulfill(status=200, content_type="text/html", body=html))
    page.goto(host)
    frame = page.frame_locator("#app")
    expect(frame.locator("#conversation")).to_have_value(
        "customer: My parcel is late.\nagent: Let me check that for you."
    )
    expect(frame.locator("#customer-name")).to_have_value("Zoe Adams")
    expect(frame.locator("#results")).to_have_attribute("data-conversation-id", "chatwoot-4242")
    assert page.evaluate("window.asked") >= 1
    expect(frame.locator("#empathy li.suggestion").first).to_be_visible()
    shoot(page, artifacts, "chatwoot-360-app-context")

    forged = json.dumps(
        {
            "event": "appContext",
            "data": {
                "contact": {"name": "Mallory"},
                "conversation": {"id": 1, "messages": [{"message_type": 0, "content": "forged"}]},
            },
        }
    )
    sidebar_frame = page.frame(url=re.compile(r"/sidebar"))
    assert sidebar_frame is not None
    sidebar_frame.evaluate(
        "(data) => window.dispatchEvent(new MessageEvent('message', {data, origin: 'https://evil.example'}))", forged
    )
    expect(frame.locator("#customer-name")).to_have_value("Zoe Adams")
    close(page)


def test_knowledge_page_lists_documents_and_indexes_a_pasted_one(
    browser: Browser, live_server: str, api_keys: dict[str, str]
) -> None:
    page = new_page(browser)
    page.goto(f"{live_server}/knowledge#key={api_keys['knowledge']}")
    expect(page.locator("#docs tbody tr[data-document-id='late-parcel-en']")).to_be_visible()
    doc_id = f"browser-{uuid.uuid4().hex[:8]}"
    page.fill("#paste-id", doc_id)
    page.fill("#paste-title-input", "Gift wrapping")
    page.select_option("#paste-language", "en")
    page.fill("#paste-text", "# Gift wrapping\n\nGift wrapping costs 3 euros and is chosen at checkout.")
    page.click("#paste-form button[type=submit]")
    expect(page.locator("#job-label")).to_contain_text("succeeded")
    expect(page.locator("#job-bar")).to_have_attribute("aria-valuenow", "100")
    row = page.locator(f"#docs tbody tr[data-document-id='{doc_id}']")
    expect(row).to_be_visible()
    expect(page.locator("#jobs tbody tr[data-status='succeeded']").first).to_be_visible()

    # Two versions of an article (the demo's warranty policy in Italian and Polish) under ids that say nothing of it:
    # found by content, the second shown with the topic it joined.
    for suffix, name, language in (
        ("garanzia", "warranty-repairs-it", "it"),
        ("gwarancja", "warranty-repairs-pl", "pl"),
    ):
        article = (DEMO_KB / f"{name}.md").read_text(encoding="utf-8").split("---", 2)[2].strip()
        page.fill("#paste-id", f"{doc_id}-{suffix}")
        page.fill("#paste-title-input", article.splitlines()[0].lstrip("# "))
        page.select_option("#paste-language", language)
        page.fill("#paste-text", article)
        page.click("#paste-form button[type=submit]")
        expect(page.locator(f"#docs tbody tr[data-document-id='{doc_id}-{suffix}']")).to_be_visible()
    polish = page.locator(f"#docs tbody tr[data-document-id='{doc_id}-gwarancja']")
    expect(polish).to_contain_text(f"{doc_id}-garanzia (found)")

    delete = row.get_by_role("button", name=f"Delete {doc_id}")
    delete.click()
    expect(delete).to_have_text("Really delete?")
    delete.click()
    expect(row).to_have_count(0)
    for suffix in ("garanzia", "gwarancja"):
        other = page.locator(f"#docs tbody tr[data-document-id='{doc_id}-{suffix}']")
        delete = other.get_by_role("button", name=f"Delete {doc_id}-{suffix}")
        delete.click()
        delete.click()
        expect(other).to_have_count(0)
    close(page)


def test_a_wrong_key_shows_the_login_form_with_the_error(
    browser: Browser, live_server: str, api_keys: dict[str, str]
) -> None:
    page = new_page(browser)
    page.goto(f"{live_server}/supervisor#key=not-a-valid-key")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#login-error")).to_contain_text("valid key")
    expect(page.locator("#main")).to_be_hidden()

    page.fill("#login-key", api_keys["agent"])  # a real key, but the wrong role
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login-error")).to_contain_text("may not")

    page.fill("#login-key", api_keys["supervisor"])
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login")).to_be_hidden()
    expect(page.locator("#queue-count")).to_have_text(re.compile(r"^\(\d+\)$"))
    close(page)


def test_a_late_refusal_of_the_replaced_key_does_not_sign_the_new_key_out(
    browser: Browser, live_server: str, api_keys: dict[str, str]
) -> None:
    """The supervisor page asks two things at once; with a wrong-role key one refusal shows the form, and the other
    may arrive after the right key signed in (seen under load). That stale refusal must not undo the sign-in."""
    page = new_page(browser)
    held: list[Any] = []

    def hold_stats_asked_with_the_agent_key(route: Any) -> None:
        if route.request.headers.get("authorization") == f"Bearer {api_keys['agent']}":
            held.append(route)  # answered only when the test says so
        else:
            route.continue_()

    page.route("**/v1/flags/stats", hold_stats_asked_with_the_agent_key)
    page.goto(f"{live_server}/supervisor")
    page.fill("#login-key", api_keys["agent"])
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login-error")).to_contain_text("may not")  # the queue's refusal
    for _ in range(100):  # the route handler runs as the test talks to the browser
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1

    page.fill("#login-key", api_keys["supervisor"])
    page.click("#login-form button[type=submit]")
    expect(page.locator("#queue-count")).to_have_text(re.compile(r"^\(\d+\)$"))
    agent_key = f"Bearer {api_keys['agent']}"
    # The held answer itself, not the supervisor page's own next request for the stats (seen under load).
    with page.expect_response(
        lambda r: r.url.endswith("/v1/flags/stats") and r.request.headers.get("authorization") == agent_key
    ) as late:
        held.pop().continue_()  # the agent key's refusal arrives now
    assert late.value.status == 403
    page.wait_for_timeout(300)  # let the page handle it
    expect(page.locator("#login")).to_be_hidden()
    expect(page.locator("#main")).to_be_visible()
    assert page.evaluate("() => Tactful.hasKey()")
    close(page)


@pytest.fixture(scope="module")
def llm_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FakeLLM]]:
    """The service with an OpenAI-compatible endpoint configured (tests/fake_llm.py, told what to answer)."""
    fake = FakeLLM(good_model).start()
    settings = fake_llm_settings(tmp_path_factory.mktemp("live-llm"), fake.url, timeout_s=20.0)
    try:
        with serving(settings) as url:
            yield url, fake
    finally:
        fake.stop()


def test_sidebar_shows_the_rules_answer_at_once_then_the_llm_parts_as_they_arrive(
    browser: Browser, llm_service: tuple[str, FakeLLM], api_keys: dict[str, str]
) -> None:
    url, fake = llm_service
    released = threading.Event()

    def held(request: Request) -> Reply:
        released.wait(20)  # the model answers only when the test says so
        return good_model(request)

    fake.behave = held
    page = new_page(browser, width=360, height=800)
    page.goto(f"{url}/sidebar#key={api_keys['agent']}")
    page.click("#case-details summary")
    page.fill("#customer-name", "Ada")
    page.fill("#conversation", "customer: My parcel is late, the tracking has not moved for a week.")
    page.fill("#draft", "Calm down. Your order #A1234 will arrive on 2024-05-03, as I ALREADY told you.")
    page.click("#assist")

    # The rules answer shows while the model is still writing.
    empathy = page.locator("#empathy li.suggestion p")
    expect(empathy.first).to_be_visible()
    rules_text = empathy.first.inner_text()
    for part in ("empathy", "next_steps", "rewrite"):
        expect(page.locator(f"#{part}-engine")).to_have_text("improving…")
    expect(page.locator("#rewrite")).not_to_be_empty()

    released.set()
    for part in ("empathy", "next_steps", "rewrite"):
        expect(page.locator(f"#{part}-engine")).to_have_text("AI")
    llm_text = EMPATHY["en"].format(name="Ada")
    expect(empathy.first).to_have_text(llm_text)
    assert llm_text != rules_text
    expect(page.locator("#rewrite")).to_have_text(re.compile(r"^Ada, I understand"))
    expect(page.locator("#steps li.step button.chip").first).to_contain_text("Late or lost parcels")
    expect(page.locator("#assist-meta")).to_contain_text("llm")

    # "Use rewrite" takes the model's rewrite, and feedback refers to the streamed suggestion.
    page.click("#use-rewrite")
    expect(page.locator("#draft")).to_have_value(re.compile(r"^Ada, I understand"))
    close(page)


def test_sidebar_keeps_the_rules_answer_when_the_model_fails(
    browser: Browser, llm_service: tuple[str, FakeLLM], api_keys: dict[str, str]
) -> None:
    url, fake = llm_service
    fake.behave = lambda request: Reply(status=500)
    page = new_page(browser, width=360, height=800)
    page.goto(f"{url}/sidebar#key={api_keys['agent']}")
    page.fill("#conversation", "customer: My parcel is late, the tracking has not moved for a week.")
    page.click("#assist")
    expect(page.locator("#empathy li.suggestion").first).to_be_visible()
    expect(page.locator("#empathy-engine")).to_have_text("rules")
    expect(page.locator("#assist-meta")).to_contain_text("partly rules")
    assert page.locator("#empathy li.suggestion").count() >= 2
    close(page)


def test_sidebar_drops_the_rules_steps_and_articles_when_the_model_finds_no_passage_about_the_problem(
    browser: Browser, llm_service: tuple[str, FakeLLM], api_keys: dict[str, str]
) -> None:
    url, fake = llm_service
    released = threading.Event()

    def uncovered(request: Request) -> Reply:
        if task_of(request) != "next_steps":
            return good_model(request)
        released.wait(20)
        return json_reply({"steps": [], "covered": False, "search": "parcel never tracked"})

    fake.behave = uncovered
    page = new_page(browser, width=360, height=800)
    page.goto(f"{url}/sidebar#key={api_keys['agent']}")
    page.fill("#conversation", "customer: My parcel is late, the tracking has not moved for a week.")
    page.click("#assist")
    expect(page.locator("#steps li.step").first).to_be_visible()  # the rules' steps first
    expect(page.locator("#articles li").first).to_be_visible()
    released.set()
    expect(page.locator("#next_steps-engine")).to_have_text("AI")
    expect(page.locator("#steps")).to_have_text("No grounded step found in the knowledge base.")
    assert page.locator("#steps li.step").count() == 0
    expect(page.locator("#articles-panel")).to_be_hidden()  # low touch: no article to point to
    close(page)


def test_sidebar_shows_the_models_tone_finding_marked_ai_beside_the_rules_and_in_the_draft(
    browser: Browser, llm_service: tuple[str, FakeLLM], api_keys: dict[str, str]
) -> None:
    url, fake = llm_service
    missed = "Other customers manage to read the tracking page on their own."
    fake.behave = judging([{
        "quote": missed,
        "kind": "condescension",
        "reason": "It suggests the customer could not read the tracking page.",
        "suggestion": "The tracking page also shows where your parcel is.",
    }, {  # a quote the draft does not hold: never shown
        "quote": "We never lose parcels.",
        "kind": "unkeepable_promise",
        "reason": "It promises something nobody can be sure of.",
        "suggestion": "We will look into where your parcel is.",
    }])  # fmt: skip
    page = new_page(browser, width=360, height=800)
    page.goto(f"{url}/sidebar#key={api_keys['agent']}")
    page.fill("#conversation", "customer: My parcel is late, the tracking has not moved for a week.")
    page.fill("#draft", f"Calm down, as I ALREADY told you. {missed}")
    page.click("#assist")

    rules_issues = page.locator("#tone-issues li")
    expect(rules_issues.first).to_be_visible()  # the rules' report first, without waiting for the model
    found = page.locator("#tone-llm-issues li.llm-issue")
    expect(found).to_have_count(1)
    expect(found.first.locator(".badge")).to_have_text("AI")
    expect(found.first).to_contain_text("condescension")
    expect(found.first).to_contain_text(missed)
    expect(found.first).to_contain_text("The tracking page also shows where your parcel is.")
    expect(page.locator("#tone-draft .issue-llm")).to_have_text(missed)  # its span marked in the draft
    expect(page.locator("#tone-llm-pending")).to_be_hidden()
    assert "condescension" not in " ".join(rules_issues.all_inner_texts())  # the rules' report is not changed
    close(page)


def test_sidebar_shows_a_step_the_customer_already_did_as_done(sidebar: Page) -> None:
    # The procedure is English; the customer writes Italian and has given the order number already.
    sidebar.fill(
        "#conversation",
        "customer: Il mio pacco non arriva, il tracking è fermo da una settimana. Ordine LM-5520318.",
    )
    sidebar.click("#assist")
    expect(sidebar.locator("#results")).to_be_visible()
    done = sidebar.locator("#done-steps li")
    expect(done).to_have_count(1)
    expect(done.first).to_contain_text("order number")
    expect(done.first).to_contain_text("LM-5520318")
    assert all("order number" not in text for text in sidebar.locator("#steps li.step p").all_inner_texts())
    assert scroll_width(sidebar) <= 360


def test_sidebar_shows_the_tier_advice_and_the_open_follow_up_and_marks_it_done(sidebar: Page, artifacts: Path) -> None:
    sidebar.fill(
        "#conversation",
        "customer: The smart speaker won't turn on. I already tried resetting it and unplugging it, nothing works.\n"
        "agent: I'm sorry! I'll call you back tomorrow at 10:00 with a solution.",
    )
    sidebar.click("#assist")
    expect(sidebar.locator("#results")).to_be_visible()
    expect(sidebar.locator("#escalation-action")).to_have_attribute("data-action", "escalate")
    expect(sidebar.locator("#escalation-badge")).to_contain_text("needs intermediate")
    expect(sidebar.locator("#escalation-reasons li").first).to_contain_text("intermediate tier")
    follow_up = sidebar.locator("#follow-ups li.follow-up")
    expect(follow_up).to_have_count(1)
    expect(follow_up.first).to_contain_text("promise")
    expect(follow_up.first).to_contain_text("I'll call you back tomorrow at 10:00")
    shoot(sidebar, artifacts, "sidebar-360-follow-up-and-tier")
    assert scroll_width(sidebar) <= 360
    follow_up.first.get_by_role("button", name="Done").click()
    expect(sidebar.locator("#follow-ups-panel")).to_be_hidden()


def test_the_service_report_page_charts_each_agent_and_downloads_the_csv(
    browser: Browser, live_server: str, api_keys: dict[str, str], artifacts: Path
) -> None:
    import httpx

    agent = f"agent-{uuid.uuid4().hex[:6]}"
    conv = {
        "id": f"report-{agent}",
        "agent": {"id": agent, "team": "night shift"},
        "messages": [
            {"role": "customer", "text": "Where is my order?"},
            {"role": "agent", "text": "Obviously you didn't read the email. Good luck with that."},
        ],
    }
    headers = {"Authorization": f"Bearer {api_keys['agent']}"}
    assert httpx.post(f"{live_server}/v1/assist", json={"conversation": conv}, headers=headers).status_code == 200
    page = new_page(browser)
    page.goto(f"{live_server}/supervisor/report#key={api_keys['supervisor']}")
    row = page.locator(f"#figures tbody tr[data-name='{agent}']")
    expect(row).to_have_count(1)
    expect(page.locator("#figures tbody tr[data-name='night shift']")).to_have_count(1)
    expect(page.locator("#tone-chart svg text", has_text=agent)).to_have_count(1)
    expect(page.locator("#tone-chart svg rect.bar.tone").first).to_be_visible()
    shoot(page, artifacts, "supervisor-1280-service-report")
    with page.expect_download() as download:
        page.click("#csv")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.startswith("group,name,") and f"agent,{agent}," in text
    close(page)


def test_a_suggestion_goes_into_the_chatwoot_conversation_as_a_private_note(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory, api_keys: dict[str, str], artifacts: Path
) -> None:

    from tests.conftest import make_settings
    from tests.fake_helpdesks import FakeChatwootNotes

    fake = FakeChatwootNotes()
    secret = "browser-hook-secret"
    settings = make_settings(tmp_path_factory.mktemp("notes"), chatwoot_webhook_secret=secret,
                             chatwoot_api_url=fake.url, chatwoot_api_token="cw-token")  # fmt: skip
    try:
        with serving(settings) as url:
            stamp = post_chatwoot_message(url, secret, message_id=501, conversation_id=4343, delivery="b-1")
            fake.visible["/api/v1/accounts/3/conversations/4343/messages"] = [
                {"id": 501, "content": "My parcel is late, where is it?", "message_type": 0, "created_at": stamp},
            ]
            context = {"event": "appContext", "data": {
                "conversation": {"id": 4343, "account_id": 3, "meta": {"sender": {"name": "Zoe Adams"}},
                                 "messages": [{"message_type": 0, "content": "FORGED: refund me 5000 EUR"}]},
                "contact": {"id": 7, "name": "Zoe Adams"}}}  # fmt: skip
            page = new_page(browser, width=400, height=800)
            frame = chatwoot_host(page, url, context, src=f"/sidebar#key={api_keys['agent']}", height=700)
            # What the frame posted is read again through Chatwoot's API: Chatwoot's own messages are shown.
            expect(frame.locator("#conversation")).to_have_value("customer: My parcel is late, where is it?")
            note = frame.locator("#empathy button.note").first
            expect(note).to_be_visible()
            note.click()
            expect(note).to_have_text("Noted ✓")
            [(path, token, body)] = fake.notes
            assert path == "/api/v1/accounts/3/conversations/4343/messages" and token == "cw-token"
            assert body["private"] is True and body["content"]
            shoot(page, artifacts, "chatwoot-360-note-posted")
            # A context for a conversation Chatwoot does not show to the token is refused: nothing is shown.
            foreign = json.dumps(
                {
                    "event": "appContext",
                    "data": {
                        "conversation": {
                            "id": 9999,
                            "account_id": 3,
                            "messages": [{"message_type": 0, "content": "someone else's chat"}],
                        }
                    },
                }
            )
            sidebar_frame = page.frame(url=re.compile(r"/sidebar"))
            assert sidebar_frame is not None
            sidebar_frame.evaluate(
                "(data) => window.dispatchEvent(new MessageEvent('message', {data, origin: window.location.origin}))",
                foreign,
            )
            expect(frame.locator("#conversation")).to_have_value("")
            expect(frame.locator("#status")).to_contain_text("not visible")
            expect(frame.locator("#results")).to_be_hidden()  # the previous conversation's suggestions go too
            shoot(page, artifacts, "chatwoot-360-foreign-conversation-refused")
            close(page)
    finally:
        fake.server.shutdown()


def test_when_chatwoot_answers_500_then_is_down_the_sidebar_says_what_failed_and_keeps_assisting(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory, api_keys: dict[str, str], artifacts: Path
) -> None:

    from tests.conftest import make_settings
    from tests.fake_helpdesks import FakeChatwootNotes

    fake = FakeChatwootNotes()
    secret = "browser-hook-secret"
    settings = make_settings(tmp_path_factory.mktemp("chatwoot-down"), chatwoot_webhook_secret=secret,
                             chatwoot_api_url=fake.url, chatwoot_api_token="cw-token")  # fmt: skip
    try:
        with serving(settings) as url:
            # A webhook tells Tactful the conversation's account (what a note needs), while Chatwoot is up.
            post_chatwoot_message(url, secret, message_id=601, conversation_id=4444, delivery="down-1")
            fake.status = 500
            posted = "My parcel is late, where is it? The tracking has not moved for a week."
            context = {"event": "appContext", "data": {
                "conversation": {"id": 4444, "account_id": 3, "meta": {"sender": {"name": "Zoe Adams"}},
                                 "messages": [{"message_type": 0, "content": posted}]},
                "contact": {"id": 7, "name": "Zoe Adams"}}}  # fmt: skip
            page = new_page(browser, width=360, height=800)
            frame = chatwoot_host(page, url, context, src=f"/sidebar#key={api_keys['agent']}", height=800,
                                  style="border:0")  # fmt: skip
            notice = frame.locator("#helpdesk-notice")

            # Chatwoot answers 500 to the context check: the posted messages are shown and assisted, and a lasting
            # notice says what failed (it outlives the assist, which clears the status line).
            expect(notice).to_have_text("Chatwoot could not be asked for this conversation: it answered 500. The "
                                        "messages are shown as the Chatwoot page sent them; the suggestions below "
                                        "are made from those.")  # fmt: skip
            expect(frame.locator("header nav a", has_text="Knowledge")).to_be_hidden()  # no room for other pages
            expect(frame.locator("#conversation")).to_have_value(f"customer: {posted}")
            expect(frame.locator("#empathy li.suggestion").first).to_be_visible()
            expect(frame.locator("#results")).to_have_attribute("data-conversation-id", "chatwoot-4444")
            expect(notice).to_be_visible()
            assert "/api/v1/accounts/3/conversations/4444/messages" in fake.gets  # Tactful did ask Chatwoot
            assert contrast(page.frame(url=re.compile(r"/sidebar")), "#helpdesk-notice") >= 4.5
            shoot(page, artifacts, "chatwoot-360-context-check-500")

            # "Note" while Chatwoot answers 500: the note reached Chatwoot, was refused, and the sidebar says so.
            note = frame.locator("#empathy button.note").first
            note.click()
            expect(note).to_have_text("Retry note")
            expect(note).to_be_enabled()
            why = frame.locator("#empathy li.suggestion").first.locator(".note-error")  # beside the button pressed
            expect(why).to_have_text("Chatwoot did not take the note: it answered 500. Copy the suggestion into "
                                     "the reply instead; the suggestions keep working.")  # fmt: skip
            [(path, _token, body)] = fake.notes
            assert path == "/api/v1/accounts/3/conversations/4444/messages" and body["private"] is True
            expect(frame.locator("#empathy li.suggestion").first).to_be_visible()
            shoot(page, artifacts, "chatwoot-360-note-500")

            # Chatwoot down (its port closed), the agent on Chatwoot's dark theme: the next context check and the
            # note say it cannot be reached, readably.
            fake.stop()
            sidebar_frame = page.frame(url=re.compile(r"/sidebar"))
            assert sidebar_frame is not None
            dark = {"event": "appContext", "data": context["data"] | {"theme": "dark"}}
            sidebar_frame.evaluate(
                "(data) => window.dispatchEvent(new MessageEvent('message', {data, origin: window.location.origin}))",
                json.dumps(dark),
            )
            expect(notice).to_contain_text("it cannot be reached")
            assert contrast(sidebar_frame, "#helpdesk-notice") >= 4.5
            expect(notice).to_contain_text("suggestions below are made from those")
            expect(frame.locator("#empathy li.suggestion").first).to_be_visible()
            note = frame.locator("#empathy button.note").first
            expect(note).to_have_text("Note")
            note.click()
            expect(why).to_contain_text("Chatwoot did not take the note: it cannot be reached")
            expect(note).to_have_text("Retry note")
            assert len(fake.notes) == 1  # nothing reached a Chatwoot that is down
            # The rest of the sidebar still works: a draft is tone-checked.
            frame.locator("#draft").fill(SARCASTIC_DRAFT)
            expect(frame.locator("#tone-draft mark").first).to_be_visible()
            expect(notice).to_be_visible()
            assert int(sidebar_frame.evaluate("document.documentElement.scrollWidth")) <= 360
            sidebar_frame.evaluate("window.scrollTo(0, 0)")  # the shot shows the notice, where the agent looks first
            shoot(page, artifacts, "chatwoot-360-down-dark")
            close(page)
    finally:
        fake.stop()


def test_a_chatwoot_agent_signs_in_as_themselves_without_a_key_in_the_link(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory, api_keys: dict[str, str]
) -> None:
    import httpx
    from cryptography.fernet import Fernet

    from tests.conftest import make_settings
    from tests.fake_helpdesks import FakeChatwootNotes

    fake = FakeChatwootNotes()
    fake.conversations.add("/api/v1/accounts/3/conversations/4343")
    fake.agents["3"] = [{"id": 21, "name": "Ann Agent"}]
    fake.visible["/api/v1/accounts/3/conversations/4343/messages"] = [
        {"id": 1, "content": "My parcel is late, where is it?", "message_type": 0, "created_at": 1764496800},
    ]
    settings = make_settings(tmp_path_factory.mktemp("agent-token"), secret_key=Fernet.generate_key().decode())
    try:
        with serving(settings) as url:
            body = {"kind": "chatwoot", "name": "Shop", "base_url": fake.url, "api_token": "cw-token",
                    "webhook_secret": "browser-hook-secret"}  # fmt: skip
            admin = {"Authorization": f"Bearer {api_keys['admin']}"}
            installation = httpx.post(f"{url}/v1/installations", json=body, headers=admin).json()["id"]
            context = {"event": "appContext", "data": {
                "conversation": {"id": 4343, "account_id": 3, "messages": [
                    {"message_type": 0, "content": "My parcel is late, where is it?"}]},
                "contact": {"id": 7, "name": "Zoe Adams"}, "currentAgent": {"id": 21, "name": "Ann"}}}  # fmt: skip
            page = new_page(browser, width=400, height=800)
            sent: list[tuple[str, str]] = []
            page.on("request", lambda r: sent.append((r.url, r.headers.get("authorization", ""))))
            frame = chatwoot_host(page, url, context, src=f"/sidebar?installation={installation}", height=700)
            expect(frame.locator("#conversation")).to_have_value("customer: My parcel is late, where is it?")
            expect(frame.locator("#empathy li").first).to_be_visible()
            expect(frame.locator("#login")).to_be_hidden()
            assert "/api/v1/accounts/3/agents" in fake.gets  # Chatwoot vouched for the agent
            assisted = [auth for link, auth in sent if link.endswith("/v1/assist/stream")]
            assert assisted and all(a.startswith("Bearer tat1.") for a in assisted), assisted
            assert not any(api_keys["agent"] in link or api_keys["agent"] in auth for link, auth in sent)
            sidebar_frame = page.frame(url=re.compile(r"/sidebar"))
            assert sidebar_frame is not None
            stored = sidebar_frame.evaluate("() => JSON.stringify(window.sessionStorage)")
            assert "tat1." not in stored and "tat1." not in sidebar_frame.url
            close(page)
    finally:
        fake.server.shutdown()


def test_when_chatwoot_cannot_vouch_for_the_agent_the_sign_in_says_why_and_chatwoot_back_signs_in(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory, api_keys: dict[str, str], artifacts: Path
) -> None:
    import httpx
    from cryptography.fernet import Fernet

    from tests.conftest import make_settings
    from tests.fake_helpdesks import FakeChatwootNotes

    fake = FakeChatwootNotes()
    fake.conversations.add("/api/v1/accounts/3/conversations/4545")
    fake.agents["3"] = [{"id": 21, "name": "Ann Agent"}]
    fake.visible["/api/v1/accounts/3/conversations/4545/messages"] = [
        {"id": 1, "content": "My parcel is late, where is it?", "message_type": 0, "created_at": 1764496800},
    ]
    fake.status = 500
    settings = make_settings(tmp_path_factory.mktemp("vouch-down"), secret_key=Fernet.generate_key().decode())
    try:
        with serving(settings) as url:
            body = {"kind": "chatwoot", "name": "Shop", "base_url": fake.url, "api_token": "cw-token",
                    "webhook_secret": "browser-hook-secret"}  # fmt: skip
            admin = {"Authorization": f"Bearer {api_keys['admin']}"}
            installation = httpx.post(f"{url}/v1/installations", json=body, headers=admin).json()["id"]
            context = {"event": "appContext", "data": {
                "conversation": {"id": 4545, "account_id": 3, "messages": [
                    {"message_type": 0, "content": "My parcel is late, where is it?"}]},
                "contact": {"id": 7, "name": "Zoe Adams"}, "currentAgent": {"id": 21, "name": "Ann"}}}  # fmt: skip
            page = new_page(browser, width=360, height=640)
            frame = chatwoot_host(page, url, context, src=f"/sidebar?installation={installation}", height=640,
                                  style="border:0;display:block")  # fmt: skip
            error = frame.locator("#login-error")
            expected = ("Chatwoot could not be asked to confirm the agent: it answered 500. Sign in with your key, or "
                        "open the conversation again when Chatwoot answers.")  # fmt: skip
            expect(error).to_have_text(expected)
            expect(frame.locator("#login")).to_be_visible()
            page.wait_for_timeout(8500)  # past the sidebar's wait for a token: the reason stays
            expect(error).to_have_text(expected)
            shoot(page, artifacts, "chatwoot-360-sign-in-chatwoot-500")

            fake.status = 200  # Chatwoot answers again; the agent opens the conversation again
            sidebar_frame = page.frame(url=re.compile(r"/sidebar"))
            assert sidebar_frame is not None
            sidebar_frame.evaluate(
                "(data) => window.dispatchEvent(new MessageEvent('message', {data, origin: window.location.origin}))",
                json.dumps(context),
            )
            expect(frame.locator("#login")).to_be_hidden()
            expect(frame.locator("#conversation")).to_have_value("customer: My parcel is late, where is it?")
            expect(frame.locator("#empathy li.suggestion").first).to_be_visible()
            close(page)
    finally:
        fake.stop()


# --- inside Zendesk: a fake ZAF SDK (tests/data/zendesk/fake_zaf_sdk.js) served at the SDK's real address --------

ZAF_SDK = "https://static.zdassets.com/zendesk_app_framework_sdk/2.0/zaf_sdk.min.js"
FAKE_ZAF = Path(__file__).parent / "data" / "zendesk" / "fake_zaf_sdk.js"
GATED_DRAFT = "Obviously you typed the wrong address. As I already told you twice, the parcel is on its way."
SINCERE_DRAFT = "Hi Zoe, I am sorry the parcel is late. I have opened a claim with the courier and will update you."


@pytest.fixture(scope="module")
def zendesk_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with a secret key, so that a Zendesk installation (and its tone gate) can be registered."""
    from cryptography.fernet import Fernet

    from tests.conftest import make_settings

    settings = make_settings(tmp_path_factory.mktemp("zendesk-live"), secret_key=Fernet.generate_key().decode())
    with serving(settings) as url:
        yield url


def zendesk_sidebar(
    browser: Browser,
    url: str,
    installation: str,
    key: str,
    ticket: dict[str, Any],
    *,
    failing: dict[str, str] | None = None,
) -> Page:
    """The sidebar as Zendesk's ticket sidebar loads it (360 by 640, the size the app asks for), Zendesk's SDK played
    by the fake (``window.__zaf``); ``failing``: the paths Zendesk answers with an error (path -> message)."""
    page = new_page(browser, width=360, height=640)
    script = (f"window.__zafData = {json.dumps(ticket)};\nwindow.__zafFailing = {json.dumps(failing or {})};\n"
              + FAKE_ZAF.read_text(encoding="utf-8"))  # fmt: skip
    page.route(ZAF_SDK, lambda route: route.fulfill(status=200, content_type="text/javascript", body=script))
    page.goto(f"{url}/sidebar?helpdesk=zendesk&installation={installation}#key={key}")
    return page


def save(page: Page, text: str, kind: str = "publicReply") -> dict[str, Any]:
    """The agent writes ``text`` in the reply box and submits: whether Zendesk saved it, and the message shown."""
    page.evaluate("([text, kind]) => window.__zaf.comment(text, kind)", [text, kind])
    result: dict[str, Any] = page.evaluate("() => window.__zaf.save()")
    return result


def gate_events(url: str, key: str, installation: str) -> list[dict[str, Any]]:
    import httpx

    r = httpx.get(f"{url}/v1/tone-gate/events", params={"installation_id": installation},
                  headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def test_inside_zendesk_the_sidebar_reads_the_ticket_inserts_and_gates_the_save(
    browser: Browser, zendesk_service: str, api_keys: dict[str, str], artifacts: Path
) -> None:
    import time

    import httpx

    url = zendesk_service
    body = {"kind": "zendesk", "name": "Acme", "base_url": "https://acme.zendesk.com",
            "webhook_secret": "zendesk-secret-1", "tone_gate": {"allow_override": True}}  # fmt: skip
    created = httpx.post(f"{url}/v1/installations", json=body, headers={"Authorization": f"Bearer {api_keys['admin']}"})
    assert created.status_code == 201, created.text
    installation = created.json()["id"]
    ticket = {
        "ticket.id": 42,
        "ticket.requester": {"id": 501, "name": "Zoe Adams"},
        "currentUser": {"id": 900, "name": "Marco", "role": "agent"},
        "ticket.conversation": [
            {"author": {"id": 501, "name": "Zoe Adams", "role": "end-user"}, "channel": {"name": "email"},
             "message": {"content": "<p>My parcel is late,<br>the tracking has not moved for a week.</p>",
                         "contentType": "text/html"}, "timestamp": "2026-11-30T10:00:00Z"},
            {"author": {"id": -1, "name": "Zendesk", "role": "system"}, "channel": {"name": "system"},
             "message": {"content": "Ticket assigned", "contentType": "text/plain"}},
        ],
    }  # fmt: skip
    page = zendesk_sidebar(browser, url, installation, api_keys["agent"], ticket)
    expect(page.locator("#conversation")).to_have_value(
        "customer: My parcel is late,\nthe tracking has not moved for a week."
    )
    expect(page.locator("#customer-name")).to_have_value("Zoe Adams")
    expect(page.locator("#results")).to_have_attribute("data-conversation-id", f"zendesk-{installation}-42")
    assert ["resize", {"width": "100%", "height": "640px"}] in page.evaluate("window.__zaf.invoked")

    # "Insert" puts a phrasing into Zendesk's reply box.
    phrasing = page.locator("#empathy li.suggestion p").first.inner_text()
    page.locator("#empathy button.insert").first.click()
    expect(page.locator("#empathy button.insert").first).to_have_text("Inserted ✓")
    assert ["comment.appendText", phrasing] in page.evaluate("window.__zaf.invoked")

    # A sarcastic public reply is held back, with its phrases and the rewrite; "Use the rewrite" replaces it.
    held = save(page, GATED_DRAFT)
    assert held["saved"] is False and "Obviously" in held["message"] and "Suggested rewrite" in held["message"]
    expect(page.locator("#gate-panel")).to_be_visible()
    expect(page.locator("#gate-issues mark").first).to_have_text("Obviously")
    rewrite = page.locator("#gate-rewrite").inner_text()
    assert rewrite and "obviously" not in rewrite.lower()
    expect(page.locator("#gate-send-anyway")).to_be_visible()
    assert scroll_width(page) <= 360
    panel = page.locator("#gate-panel").bounding_box()
    assert panel is not None and -1 <= panel["y"] < 200, panel  # in view at the top of the 640 px frame
    shoot(page, artifacts, "zendesk-360-tone-gate-holds-sarcastic-reply")
    page.click("#gate-use-rewrite")
    expect(page.locator("#gate-status")).to_contain_text("The rewrite is in the reply box")
    assert ["comment.text", rewrite] in page.evaluate("window.__zaf.sets")
    expect(page.locator("#draft")).to_have_value(rewrite)  # the tone check follows the reply box

    # A sincere reply, and an internal note, go through.
    assert save(page, SINCERE_DRAFT) == {"saved": True}
    assert save(page, GATED_DRAFT, "internalNote") == {"saved": True}
    expect(page.locator("#gate-panel")).to_be_hidden()

    # Held again; "Send anyway", then the next submit of that text goes through, recorded as overridden.
    assert save(page, GATED_DRAFT)["saved"] is False
    page.click("#gate-send-anyway")
    assert save(page, GATED_DRAFT) == {"saved": True}
    expect(page.locator("#gate-status")).to_contain_text("Sent as written")
    kinds = [e["kind"] for e in gate_events(url, api_keys["supervisor"], installation)]
    assert sorted(kinds) == ["blocked", "blocked", "overridden"], kinds

    # Tactful unreachable: the reply goes through unchecked, and that is recorded once Tactful answers again.
    page.route("**/v1/tone", lambda route: route.abort())
    page.route("**/v1/tone-gate/events", lambda route: route.abort())
    assert save(page, GATED_DRAFT) == {"saved": True}
    expect(page.locator("#gate-status")).to_contain_text("went out unchecked")
    page.unroute("**/v1/tone")
    page.route("**/v1/tone", lambda route: None)  # Tactful never answers: the gate gives up after 4 s
    started = time.monotonic()
    assert save(page, GATED_DRAFT) == {"saved": True}
    assert 3.5 < time.monotonic() - started < 9  # well before Zendesk's 10 s
    expect(page.locator("#gate-status")).to_contain_text("did not answer within 4 s")
    shoot(page, artifacts, "zendesk-360-tone-gate-tactful-unreachable")
    queued = page.evaluate("JSON.parse(localStorage.getItem('tactful.zendesk.gate-events') || '[]')")
    assert [e["kind"] for e in queued] == ["unreachable", "unreachable"]
    assert "unreachable" not in [e["kind"] for e in gate_events(url, api_keys["supervisor"], installation)]
    page.unroute("**/v1/tone")
    page.unroute("**/v1/tone-gate/events")
    assert save(page, SINCERE_DRAFT) == {"saved": True}  # Tactful answers again: the queue is reported
    expect_events = [e for e in gate_events(url, api_keys["supervisor"], installation) if e["kind"] == "unreachable"]
    for _ in range(50):
        if len(expect_events) == 2:
            break
        page.wait_for_timeout(100)
        expect_events = [e for e in gate_events(url, api_keys["supervisor"], installation)
                         if e["kind"] == "unreachable"]  # fmt: skip
    assert len(expect_events) == 2
    unreachable = expect_events[0]
    assert unreachable["conversation_id"] == f"zendesk-{installation}-42" and unreachable["agent"] == "900"
    # The queue is emptied once the sidebar has read the server's answer, a moment after the server stored the events.
    page.wait_for_function("() => JSON.parse(localStorage.getItem('tactful.zendesk.gate-events') || '[]').length === 0")

    # A new comment on the ticket: the sidebar reads the conversation again.
    page.evaluate("""() => {
      window.__zaf.data["ticket.conversation"].push({author: {id: 900, name: "Marco", role: "agent"},
        message: {content: "I have opened a claim with the courier.", contentType: "text/plain"}});
      return window.__zaf.trigger("ticket.conversation.changed");
    }""")
    expect(page.locator("#conversation")).to_have_value(re.compile(r"agent: I have opened a claim with the courier\.$"))
    close(page)


def test_inside_zendesk_a_ticket_zendesk_cannot_give_is_said_and_the_gate_still_works(
    browser: Browser, zendesk_service: str, api_keys: dict[str, str], artifacts: Path
) -> None:
    import httpx

    url = zendesk_service
    body = {"kind": "zendesk", "name": "Acme down", "base_url": "https://acme.zendesk.com",
            "webhook_secret": "zendesk-secret-2"}  # fmt: skip
    created = httpx.post(f"{url}/v1/installations", json=body, headers={"Authorization": f"Bearer {api_keys['admin']}"})
    installation = created.json()["id"]
    ticket = {
        "ticket.id": 43,
        "ticket.requester": {"id": 502, "name": "Zoe Adams"},
        "currentUser": {"id": 901, "name": "Marco", "role": "agent"},
        "ticket.conversation": [
            {"author": {"id": 502, "name": "Zoe Adams", "role": "end-user"}, "channel": {"name": "email"},
             "message": {"content": "My parcel is late.", "contentType": "text/plain"}},
        ],
    }  # fmt: skip
    failing = {"ticket.conversation": "Request failed with status 500"}
    page = zendesk_sidebar(browser, url, installation, api_keys["agent"], ticket, failing=failing)
    notice = page.locator("#helpdesk-notice")
    expect(notice).to_have_text(
        "Zendesk did not give this ticket's conversation (ticket.conversation: Request failed with status 500): no "
        "suggestions until it does. Reopen the ticket, or paste the messages under Conversation. The tone gate "
        "still checks your replies."
    )
    expect(page.locator("#login")).to_be_hidden()
    expect(page.locator("#conversation")).to_be_visible()  # not a blank page: the agent can paste the messages
    expect(page.locator("#results")).to_be_hidden()
    # The gate does not need the messages: a sarcastic reply is still held back on this ticket.
    held = save(page, GATED_DRAFT)
    assert held["saved"] is False and "Obviously" in held["message"]
    expect(page.locator("#gate-panel")).to_be_visible()
    events = gate_events(url, api_keys["supervisor"], installation)
    assert [(e["kind"], e["conversation_id"]) for e in events] == [("blocked", f"zendesk-{installation}-43")]
    assert scroll_width(page) <= 360
    shoot(page, artifacts, "zendesk-360-ticket-unreadable")

    # Zendesk answers again: the notice goes and the ticket is assisted.
    page.evaluate("() => { window.__zaf.failing = {}; return window.__zaf.trigger('ticket.conversation.changed'); }")
    expect(page.locator("#conversation")).to_have_value("customer: My parcel is late.")
    expect(page.locator("#empathy li.suggestion").first).to_be_visible()
    expect(notice).to_be_hidden()
    # Zendesk's data API down altogether (every get rejects): said, and the suggestions already shown stay.
    page.evaluate(
        "() => { window.__zaf.down = 'Network Error'; return window.__zaf.trigger('ticket.conversation.changed'); }"
    )
    expect(notice).to_contain_text("(Network Error)")
    expect(page.locator("#empathy li.suggestion").first).to_be_visible()
    assert save(page, GATED_DRAFT) == {"saved": True}  # the gate cannot read the reply: it fails open
    close(page)
