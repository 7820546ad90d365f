"""The tone banks (prompts/banks/tone/<lang>.toml): parse, share one shape, and every regex compiles."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest

from assist.tone import tone_features
from assist.tone_bank import BANK, needle, tone_bank
from prompts import BANKS, SUPPORTED_LANGUAGES, bank_languages

DIMENSIONS = {"calm", "non_sarcastic", "personalised", "professional", "empathetic"}
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def raw(language: str) -> dict[str, Any]:
    with (BANKS / BANK / f"{language}.toml").open("rb") as fh:
        return tomllib.load(fh)


def keys(table: dict[str, Any], prefix: str = "") -> set[str]:
    """Every key path of ``table`` (arrays are leaves: their length may differ between languages)."""
    out = set()
    for key, value in table.items():
        out.add(prefix + key)
        if isinstance(value, dict):
            out |= keys(value, prefix + key + ".")
    return out


def regexes(bank: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, regex) for every regex the bank holds."""
    text = bank["text"]
    found = [("text.greeting", text["greeting"]), ("text.negations", text["negations"])]
    found += [("text.acknowledgements", p) for p in text["acknowledgements"]]
    found += [("text.address", regex) for regex, _replacement, _template in text["address"]]
    found += [(f"rules.{kind}", p[0]) for kind, rule in bank["rules"].items() for p in rule["patterns"]]
    return found


def test_every_supported_language_has_a_bank() -> None:
    assert bank_languages(BANK) == sorted(SUPPORTED_LANGUAGES)


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_bank_parses_and_names_its_language(language: str) -> None:
    assert raw(language)["language"] == language
    assert tone_bank(language).language == language


@pytest.mark.parametrize("language", [lang for lang in SUPPORTED_LANGUAGES if lang != "en"])
def test_bank_has_the_same_keys_and_rule_kinds_as_english(language: str) -> None:
    english, other = raw("en"), raw(language)
    assert keys(other) == keys(english)
    for kind, rule in english["rules"].items():
        assert bool(other["rules"][kind]["patterns"]) == bool(rule["patterns"]), kind
        for field in ("message", "alt_message"):
            assert set(PLACEHOLDER.findall(other["rules"][kind][field])) == set(PLACEHOLDER.findall(rule[field]))


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_every_regex_compiles(language: str) -> None:
    for where, regex in regexes(raw(language)):
        try:
            re.compile(regex, re.IGNORECASE | re.MULTILINE)
        except re.error as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"{language} {where}: {regex!r}: {exc}")


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_replacements_only_use_groups_their_pattern_has(language: str) -> None:
    for kind, rule in raw(language)["rules"].items():
        for regex, replacement in rule["patterns"]:
            groups = re.compile(regex).groups
            used = [int(n) for n in re.findall(r"\\(\d)", replacement)]
            assert all(n <= groups for n in used), (kind, regex, replacement)
            assert set(PLACEHOLDER.findall(replacement)) <= {"greeting"}, (kind, replacement)


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_rules_have_a_dimension_a_weight_and_a_message(language: str) -> None:
    for kind, rule in raw(language)["rules"].items():
        assert rule["dimension"] in DIMENSIONS, kind
        assert 0 < rule["weight"] <= 1, kind
        assert rule["message"].strip(), kind
    weights = raw(language)["scoring"]["dimension_weights"]
    assert set(weights) == DIMENSIONS and all(w > 0 for w in weights.values())


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_acknowledgement_line_counts_as_an_acknowledgement(language: str) -> None:
    bank = tone_bank(language)
    assert bank.acknowledgements.search(bank.acknowledgement)


@pytest.mark.parametrize(
    ("regex", "expected"),
    [
        (r"\bobviously\b", "obviously"),
        (r"\byou (?:need|have) to\b", "you"),
        (r"\b(?:stupid|dumb)\b", ""),
        (r"\bdays?\b", "day"),
        (r"\bfoo|barbaz", ""),
        (r"[abc]xyz\b", "xyz"),
        (r"\bit['’]s your fault", "s your fault"),
    ],
)
def test_needle_is_a_literal_every_match_contains(regex: str, expected: str) -> None:
    assert needle(regex) == expected


# One offending example per pattern-based rule and language: each must fire, and every match must contain
# its pattern's needle (else the substring pre-check would hide real matches).
EXAMPLES: dict[str, dict[str, str]] = {
    "en": {
        "exclamation": "What?! Why would you do that!!",
        "threat": "Send the form by Friday or we will close your account.",
        "aggressive": "This is ridiculous, that is complete nonsense.",
        "sarcasm": "Obviously, as I already said, the parcel left. Good luck with that.",
        "scare_quotes": 'Your "urgent" request is in the queue.',
        "eye_roll": "Right... the parcel is lost again 🙄",
        "blame": "You entered the wrong address; it's your fault and you should have checked.",
        "order": "Calm down. You need to send the receipt.",
        "condescension": "As anyone knows, it's very simple.",
        "jargon": "I've passed the RMA to L2 and the backend team.",
        "boilerplate": "Dear Sir/Madam, we apologize for any inconvenience caused.",
        "absolute_promise": "I guarantee it: I'm 100% sure the refund will arrive.",
    },
    "it": {
        "exclamation": "Ma come?! Gliel'ho già scritto!!",
        "threat": "Invii il modulo entro venerdì, altrimenti chiuderemo il suo account.",
        "aggressive": "La sua richiesta è assurda, sono sciocchezze.",
        "sarcasm": "Ovviamente, come già detto, il pacco è partito. Buona fortuna.",
        "scare_quotes": "Il suo «problema» è già risolto.",
        "eye_roll": "Certo... il pacco è di nuovo in ritardo 🙄",
        "blame": "Ha sbagliato l'indirizzo: è colpa sua se il pacco è in ritardo.",
        "order": "Si calmi. Deve inviare la ricevuta.",
        "condescension": "Come tutti sanno, è semplicissimo.",
        "jargon": "Ho aperto un RMA e l'ho passato al team L2.",
        "boilerplate": "Gentile cliente, ci scusiamo per il disagio arrecato.",
        "absolute_promise": "Le garantisco che arriverà domani.",
    },
    "es": {
        "exclamation": "¡¡Ya se lo dije!! ¿En serio?!",
        "threat": "Envíe el formulario antes del viernes o cerraremos su cuenta.",
        "aggressive": "Su petición es absurda; eso son tonterías.",
        "sarcasm": "Obviamente, como ya le dije, el paquete salió. Buena suerte con eso.",
        "scare_quotes": "Su «urgencia» está en cola.",
        "eye_roll": "Claro... otra vez tarde 🙄",
        "blame": "Usted se equivocó de dirección; es culpa suya.",
        "order": "Cálmese. Tiene que enviar el recibo.",
        "condescension": "Como todo el mundo sabe, es muy sencillo.",
        "jargon": "Lo pasé al equipo L2 y al backend.",
        "boilerplate": "Estimado cliente: lamentamos las molestias ocasionadas.",
        "absolute_promise": "Le garantizo que llegará mañana.",
    },
    "pl": {
        "exclamation": "Jak to?! Przecież pisałem!!",
        "threat": "Proszę wysłać formularz do piątku, bo zablokujemy konto.",
        "aggressive": "To są kompletne bzdury.",
        "sarcasm": "Jak oczywiście Pan wie, jak już pisałem, paczka wyszła. Powodzenia z tym.",
        "scare_quotes": "Pana „pilna” sprawa jest w kolejce.",
        "eye_roll": "Jasne... paczka znowu się spóźnia 🙄",
        "blame": "Źle Pan wpisał adres, to Pana wina.",
        "order": "Proszę się uspokoić. Musi Pan wysłać paragon.",
        "condescension": "Jak każdy wie, to bardzo proste.",
        "jargon": "Przekazałem RMA do L2, bo to problem w backendzie.",
        "boilerplate": "Szanowny Kliencie, przepraszamy za wszelkie niedogodności.",
        "absolute_promise": "Gwarantuję, że paczka dotrze jutro.",
    },
}


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_every_pattern_rule_fires_on_its_example_and_needles_hold(language: str) -> None:
    bank = tone_bank(language)
    pattern_kinds = {kind for kind, rule in bank.rules.items() if rule.patterns}
    assert set(EXAMPLES[language]) == pattern_kinds
    for kind, example in EXAMPLES[language].items():
        assert any(p.regex.search(example) for p in bank.rules[kind].patterns), (kind, example)
    for rule in bank.rules.values():
        for pattern in rule.patterns:
            for example in EXAMPLES[language].values():
                for m in pattern.regex.finditer(example):
                    assert pattern.needle in m[0].lower(), (pattern.regex.pattern, m[0])


# Features tone.py computes itself (punctuation, capitals, rates, the acknowledgement lexicon of [text]).
COMPUTED = {"acknowledgement", "negation", "caps", "exclamation", "question", "ellipsis", "quotes", "contrast"}


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_feature_lexicons_compile_and_are_lower_case(language: str) -> None:
    for name, patterns in raw(language)["features"].items():
        for pattern in patterns:
            literal = re.sub(r"\\.", "", pattern.replace("<START>", ""))
            assert literal == literal.lower(), (name, pattern)  # they are searched in the lower-cased draft
        assert tone_bank(language).features[name].regex.pattern


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_every_weighted_feature_exists_and_models_are_shared(language: str) -> None:
    bank, english = tone_bank(language), tone_bank("en")
    assert set(bank.models) <= DIMENSIONS
    for dimension, model in bank.models.items():
        assert set(model.weights) <= set(bank.features) | COMPUTED, dimension
        assert model.weights == english.models[dimension].weights and model.bias == english.models[dimension].bias
        assert 0 < model.cap <= 0.5


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_sentence_start_cues_only_count_at_a_sentence_start(language: str) -> None:
    word = {"en": "Hello", "it": "Buongiorno", "es": "Hola", "pl": "Dzień dobry"}[language]
    assert tone_features(f"{word} Anna", language=language)["greeting"] == 1.0
    assert tone_features(f"Ok. ¿{word} Anna", language=language)["greeting"] == 1.0
    assert tone_features(f"I said {word} Anna", language=language)["greeting"] == 0.0
    why = {"en": "Why", "it": "Come mai", "es": "¿Por qué", "pl": "Dlaczego"}[language]
    assert tone_features(f"{why} not?", language=language)["why"] == 1.0
