"""Next steps and articles from hand-built passages and conversations, in every supported language."""

from __future__ import annotations

import numpy as np
import pytest

from assist.models import Conversation, Message, NextStep, Passage
from assist.next_steps import LEVEL_LIMITS, pick_articles, plan_next_steps
from prompts import SUPPORTED_LANGUAGES, bank_languages, load_bank

ROUTER_EN = """## Router drops the connection > Steps

1. Ask the customer to check that the **power** light is green.
2. Ask the customer to restart the router.
3. Ask the customer to run the [speed test](https://help.example.com/speed).
"""
ROUTER_IT = """1. Chiedi al cliente di controllare che la spia di alimentazione sia verde.
2. Chiedi al cliente di riavviare il modem.
3. Chiedi al cliente di eseguire il test di velocità.
"""
ROUTER_ES = """1. Pide al cliente que compruebe que la luz de encendido está verde.
2. Pide al cliente que reinicie el router.
3. Pide al cliente que haga el test de velocidad.
"""
ROUTER_PL = """1. Poproś klienta o sprawdzenie, czy lampka zasilania świeci na zielono.
2. Poproś klienta o zrestartowanie routera.
3. Poproś klienta o wykonanie testu prędkości.
"""
ROUTERS = {"en": ROUTER_EN, "it": ROUTER_IT, "es": ROUTER_ES, "pl": ROUTER_PL}
RESTART = {"en": "restart the router", "it": "riavviare il modem", "es": "reinicie el router", "pl": "zrestartowanie"}
ALREADY_RESTARTED = {
    "en": "Hi, I already restarted the router and it still drops every few minutes.",
    "it": "Buongiorno, ho già riavviato il modem ma la connessione cade di continuo.",
    "es": "Hola, ya reinicié el router y sigue sin funcionar.",
    "pl": "Dzień dobry, już zrestartowałem router, a internet dalej się rozłącza.",
}


def passage(text: str, *, doc: str = "router", chunk: str = "router#0", score: float = 0.9, **extra: str) -> Passage:
    fields = {"title": "Router drops the connection", "language": "en", "kind": "procedure", "section": "Steps"}
    fields.update(extra)
    return Passage(document_id=doc, chunk_id=chunk, text=text, score=score, relevance=score / 2, **fields)


def conversation(*customer: str, agent: tuple[str, ...] = ()) -> Conversation:
    messages = [Message(role="customer", text=text) for text in customer]
    messages += [Message(role="agent", text=text) for text in agent]
    return Conversation(id="c1", messages=messages)


def plan(passages: list[Passage], convo: Conversation, **kwargs: object) -> list[NextStep]:
    """``plan_next_steps`` plus the guarantees every plan must keep: each step cites an exact passage substring."""
    options: dict = {"language": "en", "level": "low_touch"} | kwargs
    steps = plan_next_steps(passages, convo, **options)
    texts = {(p.document_id, p.chunk_id): p.text for p in passages}
    for step in steps:
        assert step.citations, step
        assert not step.translated
        for citation in step.citations:
            assert citation.quote and citation.quote in texts[(citation.document_id, citation.chunk_id)]
            assert citation.context == texts[(citation.document_id, citation.chunk_id)]  # read in its section
    return steps


# --- procedures -------------------------------------------------------------------------------------------


def test_steps_keep_the_procedure_order_and_lose_their_markdown() -> None:
    steps = plan([passage(ROUTER_EN)], conversation("My internet keeps dropping."))

    assert [s.text for s in steps] == [
        "Ask the customer to check that the power light is green.",
        "Ask the customer to restart the router.",
        "Ask the customer to run the speed test.",
    ]
    assert steps[0].citations[0].quote == "Ask the customer to check that the **power** light is green."
    assert steps[0].citations[0].section == "Steps" and steps[0].language == "en"


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_a_step_the_customer_already_did_is_skipped(language: str) -> None:
    passages = [passage(ROUTERS[language], language=language)]

    untouched = plan(passages, conversation("Hello"), language=language)
    steps = plan(passages, conversation(ALREADY_RESTARTED[language]), language=language)

    assert RESTART[language] in untouched[1].text
    assert [s.text for s in steps] == [untouched[0].text, untouched[2].text]


@pytest.mark.parametrize(
    ("language", "told"),
    [
        ("en", "I've already tried restarting the router, no luck."),
        ("it", "Ho provato a riavviare il modem stamattina."),
        ("es", "He probado a reiniciar el router dos veces."),
        ("pl", "Próbowałam już zrestartować router."),
        ("pl", "Probowalem zrestartowac router, nic."),
        ("en", "No, I already restarted the router."),
        ("es", "No, ya reinicié el router."),
    ],
)
def test_tried_counts_as_done(language: str, told: str) -> None:
    steps = plan([passage(ROUTERS[language], language=language)], conversation(told), language=language)

    assert len(steps) == 2


@pytest.mark.parametrize(
    ("language", "told"),
    [
        ("en", "I haven't tried restarting the router yet."),
        ("en", "My router is already old, could that matter"),
        ("it", "Non ho ancora provato a riavviare il modem."),
        ("es", "El router ya no funciona, ¿lo reinicio?"),
        ("es", "Ya no puedo reiniciar el router."),
        ("pl", "Router już nie działa, czy mam go zrestartować?"),
        ("pl", "Już nie mogę zrestartować routera."),
    ],
)
def test_negated_or_unrelated_mentions_do_not_count_as_done(language: str, told: str) -> None:
    steps = plan([passage(ROUTERS[language], language=language)], conversation(told), language=language)

    assert len(steps) == 3


def test_a_question_from_the_agent_is_not_a_step_done() -> None:
    convo = conversation("It keeps dropping.", agent=("Have you already restarted the router?",))

    assert len(plan([passage(ROUTER_EN)], convo)) == 3


def test_the_agent_saying_it_did_a_step_skips_it() -> None:
    convo = conversation("It keeps dropping.", agent=("I have already run the speed test from our side.",))

    assert [s.text for s in plan([passage(ROUTER_EN)], convo)][-1] == "Ask the customer to restart the router."


def test_done_marker_only_covers_its_own_clause() -> None:
    text = "1. Ask the customer to check the status light on the router.\n2. Ask the customer to call back.\n"
    convo = conversation("I already restarted the router but the status light is still red.")

    assert len(plan([passage(text)], convo)) == 2


def test_chunks_of_one_document_merge_in_order_without_repeating_the_overlap() -> None:
    first = passage(
        "## Reset\n\n1. Open Settings.\n2. Choose Security.\n3. Tap Reset password.\n", chunk="pw#1", score=0.5
    )
    second = passage("3. Tap Reset password.\n4. Enter the code from the e-mail.\n5. Sign in again.\n", chunk="pw#2")

    steps = plan([second, first], conversation("I can't log in."), level="high_touch")

    assert [s.text for s in steps] == [
        "Open Settings.",
        "Choose Security.",
        "Tap Reset password.",
        "Enter the code from the e-mail.",
        "Sign in again.",
    ]
    assert [s.citations[0].chunk_id for s in steps] == ["pw#1", "pw#1", "pw#1", "pw#2", "pw#2"]


def test_an_item_cut_between_two_chunks_is_made_whole_and_cites_both() -> None:
    first = passage("1. Check the cables.\n2. Unplug the router and", chunk="r#1")
    second = passage("wait 30 seconds before plugging it back in.\n3. Run the speed test.", chunk="r#2", score=0.8)

    steps = plan([first, second], conversation("No internet."))

    assert steps[1].text == "Unplug the router and wait 30 seconds before plugging it back in."
    assert [c.chunk_id for c in steps[1].citations] == ["r#1", "r#2"]
    assert steps[2].text == "Run the speed test."


def test_a_different_section_of_the_same_document_is_a_different_procedure() -> None:
    steps_chunk = passage("1. Open Settings.\n2. Tap Reset.\n", chunk="d#1", section="Reset > Steps")
    other = passage("1. Call the bank.\n2. Wait a week.\n", chunk="d#2", section="Refunds > Steps", score=0.8)

    steps = plan([steps_chunk, other], conversation("Help"), level="high_touch")

    assert [s.text for s in steps] == ["Open Settings.", "Tap Reset."]


def test_the_top_passage_document_is_preferred_for_the_procedure() -> None:
    top = passage("Routers drop when overheated.", doc="A", chunk="A#1", score=0.9)
    other_list = passage("1. Replace the SIM card.\n", doc="B", chunk="B#1", score=0.8)
    top_list = passage("1. Move the router somewhere cooler.\n", doc="A", chunk="A#2", score=0.7)

    steps = plan([top, other_list, top_list], conversation("The router drops."))

    assert [s.text for s in steps] == ["Move the router somewhere cooler."]


def test_when_every_step_is_done_the_next_procedure_is_used() -> None:
    done = passage("1. Restart the router.\n", doc="A", chunk="A#1")
    next_one = passage("1. Book an engineer visit.\n", doc="B", chunk="B#1", score=0.5)

    steps = plan([done, next_one], conversation("I already restarted the router."))

    assert [s.text for s in steps] == ["Book an engineer visit."]


def test_a_passage_in_another_language_keeps_its_language() -> None:
    convo = conversation("Il modem si disconnette in continuazione, che cosa posso fare?")

    steps = plan([passage(ROUTER_EN, language="en")], convo, language="it")

    assert steps and all(s.language == "en" and s.citations[0].language == "en" for s in steps)


# --- contact level ----------------------------------------------------------------------------------------

LONG = "\n".join(f"{n}. Do thing number {n} carefully." for n in range(1, 11))


@pytest.mark.parametrize(("level", "expected"), [("low_touch", 3), ("high_touch", 8), ("no_touch", 3)])
def test_each_level_limits_the_procedure_steps(level: str, expected: int) -> None:
    steps = plan([passage(LONG)], conversation("Help"), level=level)

    framing = 1 if level == "no_touch" else 0  # the article to send comes on top of the procedure steps
    assert len(steps) - framing == expected == LEVEL_LIMITS[level]  # type: ignore[index]
    assert all(s.text.startswith("Do thing") for s in steps[framing:])


@pytest.mark.parametrize("language", ["en", "it", "pl"])
def test_no_touch_shows_the_article_and_three_procedure_steps(language: str) -> None:
    steps = plan(
        [passage(ROUTERS[language], language=language)], conversation("Help"), language=language, level="no_touch"
    )

    assert len(steps) == 4 and "Router drops the connection" in steps[0].text
    items = [line.split(". ", 1)[1] for line in ROUTERS[language].splitlines() if line[:1].isdigit()]
    assert [s.citations[0].quote for s in steps[1:]] == items[:3]


@pytest.mark.parametrize(("level", "max_steps"), [("low_touch", 5), ("high_touch", 2), ("no_touch", 1)])
def test_max_steps_overrides_the_level(level: str, max_steps: int) -> None:
    assert len(plan([passage(LONG)], conversation("Help"), level=level, max_steps=max_steps)) == max_steps


def test_max_steps_zero_gives_nothing() -> None:
    assert plan([passage(LONG)], conversation("Help"), max_steps=0) == []


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Send the customer the article «Reset your password»."),
        ("it", "Invia al cliente l'articolo «Reset your password»."),
        ("es", "Envíale al cliente el artículo «Reset your password»."),
        ("pl", "Wyślij klientowi artykuł „Reset your password”."),
    ],
)
def test_no_touch_opens_with_the_article_to_send(language: str, expected: str) -> None:
    policy = passage(
        "Passwords expire every 90 days.", doc="policy", chunk="p#1", kind="policy", score=0.95, language=language
    )
    faq = passage(
        "How do I reset my password?\n\n1. Open Settings.\n2. Tap Reset.\n3. Sign in.",
        doc="faq",
        chunk="f#1",
        kind="faq",
        title="Reset your password",
        score=0.8,
        language=language,
    )

    steps = plan([policy, faq], conversation("password"), language=language, level="no_touch")

    assert [s.text for s in steps] == [expected, "Open Settings.", "Tap Reset.", "Sign in."]
    assert steps[0].language == language
    assert steps[0].citations[0].chunk_id == "f#1"
    assert steps[0].citations[0].quote == "How do I reset my password?"


def test_no_touch_never_sends_an_article_the_customer_cannot_read() -> None:
    faq = passage("How do I reset my password?\n\n1. Open Settings.\n2. Tap Reset.", doc="faq", chunk="f#1", kind="faq")

    steps = plan([faq], conversation("password"), language="it", level="no_touch")

    assert [s.text for s in steps] == ["Open Settings.", "Tap Reset."]


VIP_POLICY = """# Prestige customers

Prestige members are our most valued customers.
A dedicated concierge will call the customer back within 2 hours.
We will replace a faulty router on the next business day at no cost.
"""


def test_high_touch_closes_with_the_relevant_vip_commitment() -> None:
    policy = passage(VIP_POLICY, doc="vip", chunk="v#1", kind="policy", title="Prestige service", score=0.4)

    steps = plan([passage(ROUTER_EN), policy], conversation("My router is faulty again."), level="high_touch")

    assert len(steps) == 4
    assert steps[-1].text == "We will replace a faulty router on the next business day at no cost."
    assert steps[-1].citations[0].document_id == "vip"


def test_without_a_relevant_commitment_the_first_one_is_used() -> None:
    policy = passage(VIP_POLICY, doc="vip", chunk="v#1", kind="policy", title="Prestige service", score=0.4)

    steps = plan([passage(ROUTER_EN), policy], conversation("Nothing works!"), level="high_touch", max_steps=2)

    assert [s.text for s in steps] == [
        "Ask the customer to check that the power light is green.",
        "A dedicated concierge will call the customer back within 2 hours.",
    ]


def test_the_commitment_may_come_from_a_lower_chunk_of_the_vip_policy() -> None:
    who = passage("Prestige is our concierge service for VIP customers.", doc="vip", chunk="v#0", kind="policy")
    promises = passage(
        "- **Callbacks within 2 business hours.** Business hours are 9:00–19:00.\n"
        "- **Courtesy replacement:** when a device arrives damaged, we ship a replacement immediately.",
        doc="vip",
        chunk="v#1",
        kind="policy",
        title="Lumora Prestige concierge policy",
        score=0.3,
    )

    steps = plan([passage(ROUTER_EN), who, promises], conversation("The TV arrived damaged."), level="high_touch")

    assert steps[-1].text == "Courtesy replacement: when a device arrives damaged, we ship a replacement immediately."
    assert steps[-1].citations[0].chunk_id == "v#1"


def test_a_general_policy_contributes_only_its_vip_clause() -> None:
    returns = passage(
        "Refunds are issued within 5 business days. Prestige customers always get a courtesy replacement first.",
        doc="returns",
        chunk="ret#1",
        kind="policy",
        title="Returns policy",
    )

    steps = plan([passage(ROUTER_EN), returns], conversation("Refund please"), level="high_touch")

    assert steps[-1].text == "Prestige customers always get a courtesy replacement first."


def test_a_vip_document_of_another_kind_counts_by_its_title() -> None:
    vip = passage(
        "Ogni cliente Prestige ha un **responsabile dedicato** e riceve una richiamata entro 2 ore lavorative.",
        doc="vip-it",
        chunk="vi#0",
        kind="procedure",
        title="Lumora Prestige, gestione dei clienti VIP",
        language="it",
        score=0.2,
    )

    steps = plan([passage(ROUTER_IT, language="it"), vip], conversation("Nessuno mi ha richiamato!"), language="it")
    vip_steps = plan([passage(ROUTER_IT, language="it"), vip], conversation("Ciao"), language="it", level="high_touch")

    assert all(s.citations[0].document_id == "router" for s in steps)
    assert vip_steps[-1].text.startswith("Ogni cliente Prestige ha un responsabile dedicato")
    assert vip_steps[-1].language == "it"


def test_an_ordinary_policy_adds_no_commitment() -> None:
    policy = passage("We will reply within 5 days.", doc="sla", chunk="s#1", kind="policy", title="Service levels")

    steps = plan([passage(ROUTER_EN), policy], conversation("Help"), level="high_touch")

    assert [s.citations[0].document_id for s in steps] == ["router"] * 3


def test_low_touch_ignores_the_vip_policy() -> None:
    policy = passage(VIP_POLICY, doc="vip", chunk="v#1", kind="policy", title="Prestige service", score=0.4)

    steps = plan([passage(ROUTER_EN), policy], conversation("My router is faulty."), level="low_touch")

    assert all(s.citations[0].document_id == "router" for s in steps)


# --- without a numbered list ------------------------------------------------------------------------------


def test_without_any_list_the_first_statements_of_the_best_passages_are_used() -> None:
    faq = passage(
        "## Refunds\n\nCan I get a refund?\nRefunds are issued to the original card within 5 days. Ask support.",
        doc="refunds",
        chunk="rf#1",
    )
    same_doc = passage("Refunds for gift cards are not possible.", doc="refunds", chunk="rf#2", score=0.85)
    other = passage("Store credit never expires.", doc="credit", chunk="cr#1", score=0.8)
    third = passage("Vouchers are sent by e-mail.", doc="vouchers", chunk="v#1", score=0.7)

    steps = plan([faq, same_doc, other, third], conversation("refund please"), level="high_touch")

    assert [s.text for s in steps] == [
        "Refunds are issued to the original card within 5 days.",
        "Store credit never expires.",
    ]


def test_no_passage_gives_no_step() -> None:
    assert plan([], conversation("Help")) == []


# --- articles ---------------------------------------------------------------------------------------------


def test_articles_are_distinct_documents_in_relevance_order() -> None:
    passages = [
        passage("a", doc="A", chunk="A#1", score=0.9, kind="policy"),
        passage("a2", doc="A", chunk="A#2", score=0.8, kind="policy"),
        passage("b", doc="B", chunk="B#1", score=0.7, kind="faq"),
        passage("c", doc="C", chunk="C#1", score=0.6, kind="procedure"),
        passage("d", doc="D", chunk="D#1", score=0.5, kind="faq"),
    ]

    articles = pick_articles(passages)

    assert [(a.document_id, a.chunk_id, a.score) for a in articles] == [
        ("A", "A#1", 0.45),
        ("B", "B#1", 0.35),
        ("C", "C#1", 0.3),
    ]
    assert [a.document_id for a in pick_articles(passages, limit=2)] == ["A", "B"]
    assert pick_articles([]) == []


def test_articles_rank_by_score_whatever_the_input_order() -> None:
    passages = [passage("x", doc="X", chunk="X#1", score=0.2), passage("y", doc="Y", chunk="Y#1", score=0.6)]

    assert [a.document_id for a in pick_articles(passages, limit=1)] == ["Y"]


def test_one_article_per_topic_in_the_customers_language_and_others_not_to_send() -> None:
    passages = [
        passage("Zwroty", doc="refunds-pl", chunk="refunds-pl#1", score=0.9, language="pl", topic="refunds"),
        passage("Resi", doc="refunds-it", chunk="refunds-it#1", score=0.5, language="it", topic="refunds"),
        passage("Gwarancja", doc="warranty-pl", chunk="warranty-pl#1", score=0.7, language="pl", topic="warranty"),
    ]

    refunds, warranty = pick_articles(passages, language="it")

    assert (refunds.document_id, refunds.sendable, refunds.note) == ("refunds-it", True, "")
    assert (warranty.document_id, warranty.sendable) == ("warranty-pl", False)
    assert warranty.note == "articolo in polacco; nessuna versione in italiano"


# --- bank -------------------------------------------------------------------------------------------------


def test_the_bank_has_the_same_keys_in_every_language() -> None:
    assert bank_languages("steps") == sorted(SUPPORTED_LANGUAGES)
    english = load_bank("steps", "en")
    for language in SUPPORTED_LANGUAGES:
        bank = load_bank("steps", language)
        assert set(bank) == set(english), language
        assert "{title}" in bank["send_article"]
        assert len(bank["stopwords"]) >= 50
        lists = [value for value in bank.values() if isinstance(value, list)]
        assert all(value and all(isinstance(v, str) and v.strip() for v in value) for value in lists), language


@pytest.mark.parametrize(
    ("language", "markers"),
    [
        ("en", {"already", "tried"}),
        ("it", {"già", "ho provato"}),
        ("es", {"ya", "he probado"}),
        ("pl", {"już", "próbowałem", "próbowałam"}),
    ],
)
def test_the_bank_knows_how_each_language_says_already_done(language: str, markers: set[str]) -> None:
    assert markers <= set(load_bank("steps", language)["done_markers"])


# --- steps done in substance, in another language (e5 vectors) ---------------------------------------------

POWER_EN = """1. Ask the customer which model they have and whether it ever worked.
2. Ask the customer to try another wall socket, without a power strip.
3. Check that they use the original cable and charger.
4. Ask the customer to hold the power button for 15 seconds to force a restart.
5. If it still does not turn on, open a warranty case.
"""


class _QueryVectors:
    """The bundled e5 with the language-neutral projection, as the knowledge service embeds a query."""

    def __init__(self) -> None:
        from kb_index.embeddings import E5Embeddings, embed_turns
        from kb_index.neutral import LanguageNeutralEmbeddings

        self._embeddings = LanguageNeutralEmbeddings(E5Embeddings())
        self._embed = embed_turns

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed(self._embeddings, text)


@pytest.fixture(scope="module")
def query_vectors() -> _QueryVectors:
    return _QueryVectors()


@pytest.mark.parametrize(
    ("language", "told"),
    [
        ("it", "Ho provato un'altra presa a muro, senza ciabatta."),
        ("es", "Ya la probé en otro enchufe de la pared, sin regleta."),
    ],
)
def test_a_step_said_in_other_words_and_another_language_is_done(
    query_vectors: _QueryVectors, language: str, told: str
) -> None:
    from assist.next_steps import plan as full_plan

    convo = conversation(
        "La mia videocamera non si accende più." if language == "it" else "Mi cámara no se enciende.", told
    )
    options: dict = {"language": language, "level": "high_touch", "steps_language": "en"}
    without = full_plan([passage(POWER_EN)], convo, **options)
    assert "another wall socket" in " ".join(s.text for s in without.steps)  # no shared word, no done marker
    planned = full_plan([passage(POWER_EN)], convo, embedder=query_vectors, **options)
    texts = " ".join(s.text for s in planned.steps)
    assert "another wall socket" not in texts and "warranty case" in texts
    [done] = [d for d in planned.done if "another wall socket" in d.text]
    assert told[:40] in done.reason and done.reason.startswith("said to be done")
    # Every other step is either still suggested or listed as done with why: none is dropped unseen.
    listed = texts + " ".join(d.text for d in planned.done)
    assert all(step.split(". ", 1)[1] in listed for step in POWER_EN.strip().splitlines())


def test_the_problem_stated_or_a_vague_question_does_no_step(query_vectors: _QueryVectors) -> None:
    from assist.next_steps import plan as full_plan

    convo = conversation("Ciao, la mia videocamera non si accende più.", "Is there anything else I can do?")
    planned = full_plan(
        [passage(POWER_EN)], convo, language="it", level="high_touch", steps_language="en", embedder=query_vectors
    )
    assert len(planned.steps) == 5 and planned.done == []


@pytest.mark.parametrize(
    ("language", "customer"),
    [
        ("en", "My parcel is late, there has been no tracking update for a week."),
        ("pl", "Moja paczka się spóźnia, od tygodnia nie ma żadnej aktualizacji śledzenia."),
    ],
)
def test_a_customer_describing_a_conditions_situation_does_not_do_the_conditional_step(
    query_vectors: _QueryVectors, language: str, customer: str
) -> None:
    from assist.next_steps import plan as full_plan

    parcel = """1. Ask the customer for the order number and check the tracking page.
2. If the tracking shows no movement for 5 business days, open a claim with the courier.
3. Tell the customer the claim number and that the courier answers within 2 business days.
"""
    planned = full_plan(
        [passage(parcel)], conversation(customer), language=language, level="high_touch", embedder=query_vectors
    )
    assert any("open a claim" in s.text for s in planned.steps), planned.done
    assert not any("open a claim" in d.text for d in planned.done)


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("If the tracking shows no movement for 5 business days, open a claim.", "open a claim."),
        ("Se il difetto persiste, apri una pratica di garanzia.", "apri una pratica di garanzia."),
        (
            "Si el error es de 3-D Secure, pide al cliente que confirme el pago.",
            "pide al cliente que confirme el pago.",
        ),
        ("Jeśli usterka nie ustępuje, załóż zgłoszenie.", "załóż zgłoszenie."),
        ("Sigue los pasos, uno por uno.", "Sigue los pasos, uno por uno."),
        ("Ask for the order number, the date and the amount.", "Ask for the order number, the date and the amount."),
    ],
)
def test_a_conditional_steps_action_is_what_follows_its_condition(step: str, expected: str) -> None:
    from assist.done_steps import action

    assert action(step) == expected


@pytest.mark.parametrize(
    ("language", "asked", "told"),
    [
        ("en", "Could you open a claim with the courier for me?", "I opened a claim with the courier yesterday."),
        ("it", "Potete aprire un reclamo con il corriere?", "Ho aperto un reclamo con il corriere ieri."),
    ],
)
def test_a_customer_asking_for_a_step_does_not_do_it_but_saying_it_was_done_does(
    query_vectors: _QueryVectors, language: str, asked: str, told: str
) -> None:
    from assist.next_steps import plan as full_plan

    claim = """1. Ask the customer for the order number and check the tracking page.
2. Open a claim with the courier.
3. Tell the customer the claim number and that the courier answers within 2 business days.
"""
    options: dict = {"language": language, "level": "high_touch", "embedder": query_vectors}
    asking = full_plan([passage(claim)], conversation(f"My parcel LM-5520318 is lost. {asked}"), **options)
    assert any("Open a claim" in s.text for s in asking.steps)
    assert not any("Open a claim" in d.text for d in asking.done)
    telling = full_plan([passage(claim)], conversation(f"My parcel LM-5520318 is lost. {told}"), **options)
    assert not any("Open a claim" in s.text for s in telling.steps)
    assert any("Open a claim" in d.text and told[:20] in d.reason for d in telling.done)


DAMAGED_IT = """1. Chiedi il numero d'ordine e la data di consegna.
2. Chiedi le foto del prodotto, del danno e dell'imballo con l'etichetta del corriere.
3. Chiedi se il prodotto si accende o funziona almeno in parte e annotalo nella pratica.
4. Proponi la sostituzione o il rimborso completo, a scelta del cliente.
5. Crea l'etichetta di reso prepagata e inviala al cliente.
"""


def test_an_agents_short_question_does_the_step_it_asks(query_vectors: _QueryVectors) -> None:
    from assist.done_steps import ECHO_MIN_COSINE, ECHO_QUESTION_MIN_COSINE, Echoes, action
    from assist.next_steps import plan as full_plan

    question = "Il monitor si accende?"
    opened = "Ordine LM-7716204, consegnato ieri. Vi ho allegato le foto del monitor, della crepa e della scatola."
    said = "Buongiorno, il monitor è arrivato con lo schermo crepato."
    convo = Conversation(
        id="c1",
        messages=[
            Message(role="customer", text=f"{said} {opened}"),
            Message(role="agent", text=f"Mi dispiace molto. {question}"),
            Message(role="customer", text="Sì, ma c'è una macchia nera vicino alla crepa."),
        ],
    )
    step3 = DAMAGED_IT.splitlines()[2][3:]
    cosine = float(query_vectors.embed_query(question) @ query_vectors.embed_query(action(step3)))
    # Few words ask the whole step: nearer than the sentences of the conversation usually come to a step they do.
    assert ECHO_QUESTION_MIN_COSINE <= cosine < ECHO_MIN_COSINE
    assert Echoes.of(convo, query_vectors).done([action(s[3:]) for s in DAMAGED_IT.splitlines()])[2][0] == "asked"
    planned = full_plan([passage(DAMAGED_IT, language="it")], convo, language="it", level="low_touch",
                        embedder=query_vectors)  # fmt: skip
    assert [s.text for s in planned.steps][:1] == [
        "Proponi la sostituzione o il rimborso completo, a scelta del cliente."
    ]
    assert any(d.text.startswith("Chiedi se il prodotto si accende") and question in d.reason for d in planned.done)


def test_the_bundled_done_model_reads_the_features_the_planner_computes() -> None:
    import json

    from assist.done_steps import DONE_FEATURES, DONE_MODEL_PATH, DoneModel

    data = json.loads(DONE_MODEL_PATH.read_text(encoding="utf-8"))
    model = DoneModel.bundled()
    assert model is not None and tuple(data["features"]) == DONE_FEATURES
    assert len(model.weights) == len(DONE_FEATURES) + 1 == len(model.mean) + 1 == len(model.scale) + 1
    unknown = np.full((1, len(DONE_FEATURES)), np.nan)
    # A feature nobody could measure counts as its mean: the probability is the bias's alone.
    assert model.probabilities(unknown)[0] == pytest.approx(1 / (1 + np.exp(-model.weights[0])))


def test_the_done_model_only_adds_steps_to_what_the_rules_find(query_vectors: _QueryVectors) -> None:
    from assist.done_steps import DONE_FEATURES, DoneModel, DoneSteps, Echoes, done_features, lexicon, weighed_done

    steps = [s[3:] for s in POWER_EN.strip().splitlines()]
    convo = conversation(
        "My camera stopped turning on on Friday.",
        "I already tried another wall socket, without a power strip.",
        agent=("Which model is it, and did it ever work?",),
    )
    words, echoes = DoneSteps.of(convo, lexicon(frozenset({"en"}))), Echoes.of(convo, query_vectors)
    found = [words.reason(s) for s in steps]
    features, evidence = done_features(steps, found, echoes, words.lexicon)
    assert features.shape == (len(steps), len(DONE_FEATURES))
    # No agent statement to measure (the agent only asked): unknown, not zero; the other columns are all known.
    assert [DONE_FEATURES[c] for c in np.flatnonzero(np.isnan(features).any(axis=0))] == ["agent_cosine"]
    assert features[:, DONE_FEATURES.index("position")].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert set(evidence) == set(range(len(steps)))
    size = len(DONE_FEATURES)

    def model(bias: float) -> DoneModel:
        return DoneModel(np.r_[bias, np.zeros(size)], np.zeros(size), np.ones(size), 0.5)

    rules = weighed_done(steps, words, echoes, model(-50.0))  # the model never says done: the rules alone
    assert 1 in rules and rules[1][0] == "said"  # the wall socket, said by the customer
    everything = weighed_done(steps, words, echoes, model(50.0))
    assert set(everything) == set(range(len(steps))) and everything[1] == rules[1]
    added = next(i for i in everything if i not in rules)
    assert everything[added][0] == "likely" and everything[added][1] in {e.text for e in echoes.sentences}


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("order 5512 not arrive. tracking stuck", "5512"),
        ("sent back the headphones from order no. 77120 last week", "77120"),
        ("Ordine n. 44512 del 3 marzo, non è mai arrivato", "44512"),
        ("hola, el pedido es el 5518830-ES y no llega", "5518830-ES"),
        ("chcę anulować zamówienie nr 20418", "20418"),
        ("zam. 88412, dostawa w lutym", "88412"),
    ],
)
def test_a_code_after_a_word_for_order_is_the_order_number(text: str, number: str) -> None:
    from assist.done_steps import given

    assert given(text)["order_number"] == number


@pytest.mark.parametrize(
    "text",
    [
        "I placed my order on 12/03 and paid 49.90",  # a date after "order"
        "my order of 1500 euros never came",  # an amount
        "the order from 2023 was fine",  # a year
        "I ordered 2024 units for the shop",  # "ordered" is not "order"
        "Ho fatto un ordine 3 giorni fa",  # too short for a code
    ],
)
def test_numbers_near_order_that_are_not_its_number(text: str) -> None:
    from assist.done_steps import given

    assert "order_number" not in given(text)


def test_wishes_and_promises_echo_no_step_a_long_sentence_is_read_by_clause(query_vectors: _QueryVectors) -> None:
    from assist.done_steps import ECHO_CLAUSE_WORDS, Echoes
    from assist.text import words

    long = (
        "Before you tell me the usual: I plugged it into another wall socket, directly, with the original cable and "
        "the charger from the box, and I left it charging all night"
    )
    assert len(words(long)) > ECHO_CLAUSE_WORDS
    convo = conversation(
        "I need to change the delivery address of my order.",  # asks for the step that changes it
        "Necesito cambiar la dirección de entrega.",
        long,
        agent=("I'll check with the warehouse and get back to you.", "I've checked the tracking page."),
    )
    said = [(e.role, e.text) for e in Echoes.of(convo, query_vectors).sentences]
    assert not any("delivery address" in text or "dirección" in text for _, text in said)
    assert ("agent", "I've checked the tracking page.") in said
    assert not any("warehouse" in text for _, text in said)
    # The long sentence whole, and its clauses: one vector of it is near none of the three steps it does.
    assert ("customer", long) in said
    assert ("customer", "I plugged it into another wall socket") in said


def test_an_echo_alone_is_weighed_one_that_says_it_was_done_stays(query_vectors: _QueryVectors) -> None:
    from assist.done_steps import DONE_FEATURES, DoneModel, DoneSteps, Echoes, lexicon, stated_done, weighed_done

    steps = [s[3:] for s in POWER_EN.strip().splitlines()]
    told = "Ho provato un'altra presa a muro, senza ciabatta."
    for said, stays in ((told, True), ("Con un'altra presa a muro, senza ciabatta, è lo stesso.", False)):
        convo = conversation("La mia videocamera non si accende più.", said)
        words, echoes = DoneSteps.of(convo, lexicon(frozenset({"it", "en"}))), Echoes.of(convo, query_vectors)
        echoed = echoes.done(steps)
        assert echoed.get(1, ("", ""))[0] == "said", said  # both echo the wall socket step
        stated = stated_done([words.reason(s) for s in steps], echoed, words.lexicon)
        assert (1 in stated) is stays
        never = DoneModel(
            np.r_[-50.0, np.zeros(len(DONE_FEATURES))], np.zeros(len(DONE_FEATURES)), np.ones(len(DONE_FEATURES)), 0.5
        )
        assert (1 in weighed_done(steps, words, echoes, never)) is stays
        always = DoneModel(
            np.r_[50.0, np.zeros(len(DONE_FEATURES))], np.zeros(len(DONE_FEATURES)), np.ones(len(DONE_FEATURES)), 0.5
        )
        assert weighed_done(steps, words, echoes, always)[1] == echoed[1]  # labelled by the sentence that echoes it
