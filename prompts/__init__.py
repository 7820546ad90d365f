"""Prompt templates and per-language phrase banks and lexicons: data, not code.

Banks live in ``prompts/banks/<name>/<language>.toml``. Templates in ``prompts/templates/*.j2`` are
rendered with ``StrictUndefined`` so a missing variable is an error, not an empty string.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

ROOT = Path(__file__).parent
BANKS = ROOT / "banks"
TEMPLATES = ROOT / "templates"
SUPPORTED_LANGUAGES = ("en", "it", "es", "pl")
FALLBACK_LANGUAGE = "en"

__all__ = ["SUPPORTED_LANGUAGES", "bank_languages", "load_bank", "render"]


@cache
def _read_bank(name: str, language: str) -> dict[str, Any]:
    path = BANKS / name / f"{language}.toml"
    with path.open("rb") as fh:
        return tomllib.load(fh)


def bank_languages(name: str) -> list[str]:
    """Languages for which the bank ``name`` has a file."""
    return sorted(p.stem for p in (BANKS / name).glob("*.toml"))


def load_bank(name: str, language: str) -> dict[str, Any]:
    """The bank ``name`` in ``language``, falling back to English when that language has none."""
    lang = language if (BANKS / name / f"{language}.toml").exists() else FALLBACK_LANGUAGE
    return _read_bank(name, lang)


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def render(template: str, **context: Any) -> str:
    """Render ``prompts/templates/<template>`` with ``context``."""
    return _environment().get_template(template).render(**context)
