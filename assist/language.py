"""Which language a text or a conversation is in (py3langid ships its model; nothing is downloaded)."""

from __future__ import annotations

import re
from functools import cache

from assist.errors import InvalidInput
from prompts import SUPPORTED_LANGUAGES

# Every ISO 639-1 code, so an unknown code is told apart from a known but unsupported one.
ISO_639_1 = frozenset(
    [
        "aa",
        "ab",
        "ae",
        "af",
        "ak",
        "am",
        "an",
        "ar",
        "as",
        "av",
        "ay",
        "az",
        "ba",
        "be",
        "bg",
        "bh",
        "bi",
        "bm",
        "bn",
        "bo",
        "br",
        "bs",
        "ca",
        "ce",
        "ch",
        "co",
        "cr",
        "cs",
        "cu",
        "cv",
        "cy",
        "da",
        "de",
        "dv",
        "dz",
        "ee",
        "el",
        "en",
        "eo",
        "es",
        "et",
        "eu",
        "fa",
        "ff",
        "fi",
        "fj",
        "fo",
        "fr",
        "fy",
        "ga",
        "gd",
        "gl",
        "gn",
        "gu",
        "gv",
        "ha",
        "he",
        "hi",
        "ho",
        "hr",
        "ht",
        "hu",
        "hy",
        "hz",
        "ia",
        "id",
        "ie",
        "ig",
        "ii",
        "ik",
        "io",
        "is",
        "it",
        "iu",
        "ja",
        "jv",
        "ka",
        "kg",
        "ki",
        "kj",
        "kk",
        "kl",
        "km",
        "kn",
        "ko",
        "kr",
        "ks",
        "ku",
        "kv",
        "kw",
        "ky",
        "la",
        "lb",
        "lg",
        "li",
        "ln",
        "lo",
        "lt",
        "lu",
        "lv",
        "mg",
        "mh",
        "mi",
        "mk",
        "ml",
        "mn",
        "mr",
        "ms",
        "mt",
        "my",
        "na",
        "nb",
        "nd",
        "ne",
        "ng",
        "nl",
        "nn",
        "no",
        "nr",
        "nv",
        "ny",
        "oc",
        "oj",
        "om",
        "or",
        "os",
        "pa",
        "pi",
        "pl",
        "ps",
        "pt",
        "qu",
        "rm",
        "rn",
        "ro",
        "ru",
        "rw",
        "sa",
        "sc",
        "sd",
        "se",
        "sg",
        "si",
        "sk",
        "sl",
        "sm",
        "sn",
        "so",
        "sq",
        "sr",
        "ss",
        "st",
        "su",
        "sv",
        "sw",
        "ta",
        "te",
        "tg",
        "th",
        "ti",
        "tk",
        "tl",
        "tn",
        "to",
        "tr",
        "ts",
        "tt",
        "tw",
        "ty",
        "ug",
        "uk",
        "ur",
        "uz",
        "ve",
        "vi",
        "vo",
        "wa",
        "wo",
        "xh",
        "yi",
        "yo",
        "za",
        "zh",
        "zu",
    ]
)
DEFAULT_LANGUAGE = "en"
_WORD = re.compile(r"\w+", re.UNICODE)


def validate_language(code: str, *, field: str = "language") -> str:
    """Return ``code`` normalised to lower case, or raise ``InvalidInput`` naming ``field``."""
    norm = code.strip().lower()
    if norm not in ISO_639_1:
        raise InvalidInput(f"unknown language code {code!r}: expected an ISO 639-1 code such as 'en'", field=field)
    return norm


@cache
def _identifier():  # type: ignore[no-untyped-def]
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages([*SUPPORTED_LANGUAGES, "fr", "de", "pt", "nl", "cs", "ro"])
    return ident


def load_language_identifier() -> None:
    """Load the language identifier now (its model is read and decompressed: 0.5-0.7 s here) rather than in the first
    request that detects a language; a server calls it at start-up, once per process."""
    _identifier()


def detect_language(text: str, *, default: str = DEFAULT_LANGUAGE) -> str:
    """The ISO 639-1 code of ``text``; ``default`` when the text is too short to tell."""
    if len(_WORD.findall(text)) < 2:
        return default
    lang, _prob = _identifier().classify(text)
    return str(lang)


def conversation_language(customer_texts: list[str], *, default: str = DEFAULT_LANGUAGE) -> str:
    """The language the customer writes in: the customer's messages, most recent weighted by being included last."""
    joined = " ".join(customer_texts[-5:])
    return detect_language(joined, default=default) if joined.strip() else default
