"""Personal data out before a text leaves the process, and back in exactly as it was: in all four languages."""

from __future__ import annotations

import pytest

from assist.privacy import Pseudonymizer, iban_valid, luhn_valid

# language -> (customer name, text, the values that must be replaced, by kind)
CASES: dict[str, tuple[str, str, dict[str, list[str]]]] = {
    "en": (
        "Ada Lovelace",
        "Hi, I'm Ada Lovelace. Email ada.lovelace@example.co.uk, phone +44 20 7946 0958 or 07700 900123. "
        "Card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32. I live at 221B Baker Street, London NW1 6XE. "
        "Order 12345 of 2024-05-01 for $59.99. Thanks, ada",
        {
            "EMAIL": ["ada.lovelace@example.co.uk"],
            "PHONE": ["+44 20 7946 0958", "07700 900123"],
            "CARD": ["4111 1111 1111 1111"],
            "IBAN": ["GB82 WEST 1234 5698 7654 32"],
            "ADDRESS": ["221B Baker Street", "NW1 6XE"],
            "ORDER": ["12345"],
            "CUSTOMER": ["Ada Lovelace", "ada"],
        },
    ),
    "it": (
        "Giulia Rossi",
        "Buongiorno, sono Giulia Rossi e abito in via Giuseppe Verdi, 5/B, 20121 Milano. Cellulare 333 123 4567, "
        "fisso 02 1234 5678, mail giulia.rossi@posta.it. IBAN IT60 X054 2811 1010 0000 0123 456 grazie. "
        "Carta 5500-0000-0000-0004. Ordine n. 98765 del 03/05/2024, 49,90 €.",
        {
            "EMAIL": ["giulia.rossi@posta.it"],
            "PHONE": ["333 123 4567", "02 1234 5678"],
            "CARD": ["5500-0000-0000-0004"],
            "IBAN": ["IT60 X054 2811 1010 0000 0123 456"],
            "ADDRESS": ["via Giuseppe Verdi, 5/B", "20121 Milano"],
            "ORDER": ["98765"],
            "CUSTOMER": ["Giulia Rossi"],
        },
    ),
    "es": (
        "Carmen López",
        "Hola, soy Carmen López. Vivo en la Calle Mayor 5, 3º B, 28013 Madrid. Mi móvil es 612 345 678 y el fijo "
        "91 123 45 67; correo carmen.lopez@correo.es. IBAN ES91 2100 0418 4502 0005 1332, tarjeta 378282246310005. "
        "Pedido 55555 del 2024-05-01, 19,99 €. Gracias, carmen",
        {
            "EMAIL": ["carmen.lopez@correo.es"],
            "PHONE": ["612 345 678", "91 123 45 67"],
            "CARD": ["378282246310005"],
            "IBAN": ["ES91 2100 0418 4502 0005 1332"],
            "ADDRESS": ["Calle Mayor 5, 3º B", "28013 Madrid"],
            "ORDER": ["55555"],
            "CUSTOMER": ["Carmen López", "carmen"],
        },
    ),
    "pl": (
        "Anna Kowalska",
        "Dzień dobry, nazywam się Anna Kowalska, mieszkam przy ul. Marszałkowskiej 12/5, 00-950 Warszawa. "
        "Mój numer to 601 234 567, e-mail anna.kowalska@wp.pl, konto PL61 1090 1014 0000 0712 1981 2874, "
        "karta 4012 8888 8888 1881. Zamówienie 77777 z 2024-05-01 na 129,00 zł. Pani Anno, dziękuję pani Kowalskiej.",
        {
            "EMAIL": ["anna.kowalska@wp.pl"],
            "PHONE": ["601 234 567"],
            "CARD": ["4012 8888 8888 1881"],
            "IBAN": ["PL61 1090 1014 0000 0712 1981 2874"],
            "ADDRESS": ["ul. Marszałkowskiej 12/5", "00-950 Warszawa"],
            "ORDER": ["77777"],
            "CUSTOMER": ["Anna Kowalska", "Anno", "Kowalskiej"],
        },
    ),
}
# Facts an agent needs that are not personal data: they stay as they are (order numbers identify the customer).
KEPT = {
    "en": ["Order [ORDER_1]", "2024-05-01", "$59.99"],
    "it": ["n. [ORDER_1]", "03/05/2024", "49,90 €"],
    "es": ["Pedido [ORDER_1]", "2024-05-01", "19,99 €"],
    "pl": ["Zamówienie [ORDER_1]", "2024-05-01", "129,00 zł"],
}


@pytest.mark.parametrize("language", sorted(CASES))
def test_every_kind_of_personal_data_is_replaced_and_restored(language: str) -> None:
    name, text, expected = CASES[language]
    vault = Pseudonymizer(language=language, customer_names=[name])
    redacted = vault.redact(text)
    for kind, values in expected.items():
        found = sorted(v for p, v in vault.mapping.items() if p.startswith(f"[{kind}_"))
        assert found == sorted(values), kind
        for value in values:
            assert value not in redacted
    assert vault.restore(redacted) == text


@pytest.mark.parametrize("language", sorted(CASES))
def test_dates_and_amounts_are_not_personal_data_order_numbers_are(language: str) -> None:
    name, text, _ = CASES[language]
    redacted = Pseudonymizer(language=language, customer_names=[name]).redact(text)
    for fact in KEPT[language]:
        assert fact in redacted


@pytest.mark.parametrize("language", sorted(CASES))
def test_a_placeholder_in_the_llm_answer_comes_back_as_the_value(language: str) -> None:
    name, text, expected = CASES[language]
    vault = Pseudonymizer(language=language, customer_names=[name])
    vault.redact(text)
    email = vault.placeholder_for(expected["EMAIL"][0])
    answer = f"{vault.placeholder_for(name)}: {email}, {email.lower() if email else ''}"
    assert vault.restore(answer) == f"{name}: {expected['EMAIL'][0]}, {expected['EMAIL'][0]}"


def test_the_same_value_always_gets_the_same_placeholder_across_texts() -> None:
    vault = Pseudonymizer(customer_names=["Ada"], agent_names=["Marek Nowak"])
    first = vault.redact("Write to ada@example.com, Ada.")
    second = vault.redact("Marek here. I wrote to ada@example.com.")
    assert first == "Write to [EMAIL_1], [CUSTOMER_1]."
    assert second == "[AGENT_1] here. I wrote to [EMAIL_1]."
    assert (
        vault.restore(first + " " + second) == "Write to ada@example.com, Ada. Marek here. I wrote to ada@example.com."
    )


def test_numbers_failing_their_checksum_are_left_alone() -> None:
    vault = Pseudonymizer()
    text = "Card 4111 1111 1111 1112, IBAN GB00 WEST 1234 5698 7654 32, 14 days, 2.5 hours, 1,299.00 EUR."
    assert vault.redact(text) == text
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112") and not luhn_valid("41x1")
    assert iban_valid("GB82 WEST 1234 5698 7654 32") and not iban_valid("GB83 WEST 1234 5698 7654 32")


def test_an_iban_followed_by_a_word_in_capitals_is_still_found() -> None:
    vault = Pseudonymizer(language="it")
    assert vault.redact("IBAN IT60X0542811101000000123456 GRAZIE") == "IBAN [IBAN_1] GRAZIE"


def test_polish_names_are_found_in_their_declined_forms_but_not_inside_other_words() -> None:
    vault = Pseudonymizer(language="pl", customer_names=["Anna Kowalska"], agent_names=["Marek"])
    text = "Pani Anno, tu Marek. Panie Marku! Dla pani Kowalskiej. Annapurna i Marzec zostają."
    redacted = vault.redact(text)
    assert (
        redacted
        == "Pani [CUSTOMER_1], tu [AGENT_1]. Panie [AGENT_2]! Dla pani [CUSTOMER_2]. Annapurna i Marzec zostają."
    )
    assert vault.restore(redacted) == text


def test_names_are_not_declined_in_english() -> None:
    vault = Pseudonymizer(language="en", customer_names=["Anna"])
    assert vault.redact("Anna and Annie") == "[CUSTOMER_1] and Annie"


def test_placeholder_lookalikes_in_the_input_are_defused_and_invented_ones_detected() -> None:
    vault = Pseudonymizer(customer_names=["Ada"])
    redacted = vault.redact("Ada says: print [EMAIL_1] and [CUSTOMER_9]")
    assert redacted == "[CUSTOMER_1] says: print (EMAIL_1) and (CUSTOMER_9)"
    assert vault.unknown_placeholders("Hi [CUSTOMER_1], mail [EMAIL_3]") == ["[EMAIL_3]"]
    assert vault.restore("Hi [customer_1]") == "Hi Ada"


def test_switched_off_it_changes_nothing() -> None:
    vault = Pseudonymizer(customer_names=["Ada"], enabled=False)
    text = "Ada, ada@example.com, +44 20 7946 0958"
    assert vault.redact(text) == text and vault.restore(text) == text and vault.mapping == {}


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("tracking 1234567890123.", "tracking [ORDER_1]."),
        ("order #4471 and AB-99812", "order [ORDER_1] and [ORDER_2]"),
        ("on 2026-11-30 at 14:05, 1.299,00 € in 3 days", "on 2026-11-30 at 14:05, 1.299,00 € in 3 days"),
    ],
)
def test_order_and_tracking_numbers_are_replaced_but_dates_amounts_and_times_are_not(text: str, redacted: str) -> None:
    vault = Pseudonymizer()
    assert vault.redact(text) == redacted
    assert vault.restore(vault.redact(text)) == text
