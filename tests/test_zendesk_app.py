"""The Zendesk app (integrations/zendesk) checked offline as ``zcli apps:validate`` would, plus the rules Tactful's
sidebar needs; each check is shown to reject a broken copy of the app."""

from __future__ import annotations

import json
import re
import shutil
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

APP = Path(__file__).resolve().parent.parent / "integrations" / "zendesk"
PARAMETER_TYPES = {"text", "password", "checkbox", "url", "number", "multiline", "hidden", "oauth"}
LOGOS = {"logo.png": 320, "logo-small.png": 128}
SETTING = re.compile(r"\{\{\s*setting\.([A-Za-z0-9_]+)\s*\}\}")
PNG = b"\x89PNG\r\n\x1a\n"


def problems(folder: Path) -> list[str]:
    """What is wrong with the app in ``folder`` (empty: it would be accepted)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"manifest.json: {exc}"]
    found = _required(manifest) + _location(manifest) + _settings(manifest)
    return found + _translations(folder, manifest) + _logos(folder)


def _required(manifest: dict[str, Any]) -> list[str]:
    found = [f"{key} is missing" for key in ("name", "author", "defaultLocale", "private", "location", "version",
                                              "frameworkVersion") if key not in manifest]  # fmt: skip
    author = manifest.get("author") or {}
    found += [f"author.{key} is missing" for key in ("name", "email") if not author.get(key)]
    if author.get("email") and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", author["email"]):
        found.append("author.email is not an e-mail address")
    if "private" in manifest and not isinstance(manifest["private"], bool):
        found.append("private must be true or false")
    if manifest.get("frameworkVersion") != "2.0":
        found.append("frameworkVersion must be 2.0")
    if manifest.get("signedUrls") is not True:
        found.append("signedUrls must be true")
    return found


def _location(manifest: dict[str, Any]) -> list[str]:
    location = manifest.get("location") or {}
    if set(location) != {"support"} or set(location.get("support") or {}) != {"ticket_sidebar"}:
        return ["the only location must be support.ticket_sidebar"]
    sidebar = location["support"]["ticket_sidebar"]
    url = sidebar.get("url", "") if isinstance(sidebar, dict) else ""
    found = []
    start = SETTING.match(url)
    types = {p.get("name"): p.get("type") for p in manifest.get("parameters") or []}
    if not url.startswith("https://") and not (start and types.get(start.group(1)) == "url"):
        found.append("ticket_sidebar.url must be https (or start with a setting of type url)")
    for needed in ("/sidebar?", "helpdesk=zendesk", "installation={{setting.installation_id}}"):
        if needed not in url:
            found.append(f"ticket_sidebar.url must contain {needed}")
    return found


def _settings(manifest: dict[str, Any]) -> list[str]:
    parameters = manifest.get("parameters") or []
    names = [p.get("name") for p in parameters]
    found = [f"parameter {n!r} is declared twice" for n in sorted({n for n in names if names.count(n) > 1})]
    found += [f"parameter {p.get('name')!r} has no valid type" for p in parameters
              if p.get("type") not in PARAMETER_TYPES]  # fmt: skip
    secure = {p.get("name") for p in parameters if p.get("secure")}
    text = json.dumps({k: v for k, v in manifest.items() if k != "parameters"})
    found += [f"{{{{setting.{n}}}}} is used but not declared" for n in sorted(set(SETTING.findall(text)) - set(names))]
    client_side = json.dumps(manifest.get("location") or {})
    found += [f"secure setting {n!r} is used in a location URL (secure settings never reach the browser)"
              for n in sorted(set(SETTING.findall(client_side)) & secure)]  # fmt: skip
    return found


def _translations(folder: Path, manifest: dict[str, Any]) -> list[str]:
    path = folder / "translations" / f"{manifest.get('defaultLocale', 'en')}.json"
    try:
        app = json.loads(path.read_text(encoding="utf-8")).get("app") or {}
    except (OSError, ValueError) as exc:
        return [f"translations: {exc}"]
    found = [f"translations: app.{key} is missing" for key in ("name", "short_description", "long_description")
             if not app.get(key)]  # fmt: skip
    labels = app.get("parameters") or {}
    found += [f"translations: parameter {p.get('name')!r} has no label" for p in manifest.get("parameters") or []
              if not (labels.get(p.get("name")) or {}).get("label")]  # fmt: skip
    return found


def _logos(folder: Path) -> list[str]:
    found = []
    for name, size in LOGOS.items():
        data = (folder / "assets" / name).read_bytes() if (folder / "assets" / name).exists() else b""
        if not data.startswith(PNG) or struct.unpack(">II", data[16:24]) != (size, size):
            found.append(f"assets/{name} must be a {size}x{size} PNG")
    return found


def test_the_app_is_valid() -> None:
    assert problems(APP) == []


def test_the_sidebar_url_opens_tactful_s_sidebar_in_zendesk_mode() -> None:
    manifest = json.loads((APP / "manifest.json").read_text(encoding="utf-8"))
    url = manifest["location"]["support"]["ticket_sidebar"]["url"]
    settings = {"tactful_url": "https://tactful.example.com", "installation_id": "abc123"}
    rendered = SETTING.sub(lambda m: settings[m.group(1)], url)
    assert rendered == "https://tactful.example.com/sidebar?helpdesk=zendesk&installation=abc123"


def _manifest(change: Callable[[dict[str, Any]], object]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        path = folder / "manifest.json"
        manifest = json.loads(path.read_text(encoding="utf-8"))
        change(manifest)
        path.write_text(json.dumps(manifest), encoding="utf-8")

    return apply


def _translation(change: Callable[[dict[str, Any]], object]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        path = folder / "translations" / "en.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        change(data["app"])
        path.write_text(json.dumps(data), encoding="utf-8")

    return apply


def _sidebar(manifest: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = manifest["location"]["support"]["ticket_sidebar"]
    return found


PATH = "/sidebar?helpdesk=zendesk&installation={{setting.installation_id}}"


def _set_url(manifest: dict[str, Any], url: str) -> None:
    _sidebar(manifest)["url"] = url


def _move_sidebar(manifest: dict[str, Any], location: str) -> None:
    support = manifest["location"]["support"]
    support[location] = support.pop("ticket_sidebar")


BROKEN: dict[str, tuple[Callable[[Path], object], str]] = {
    "not json": (lambda f: (f / "manifest.json").write_text("{", encoding="utf-8"), "manifest.json"),
    "no name": (_manifest(lambda m: m.pop("name")), "name is missing"),
    "no author email": (_manifest(lambda m: m["author"].pop("email")), "author.email is missing"),
    "bad author email": (_manifest(lambda m: m["author"].update(email="nobody")), "not an e-mail"),
    "no default locale": (_manifest(lambda m: m.pop("defaultLocale")), "defaultLocale is missing"),
    "no private": (_manifest(lambda m: m.pop("private")), "private is missing"),
    "private as text": (_manifest(lambda m: m.update(private="yes")), "private must be"),
    "framework 1.0": (_manifest(lambda m: m.update(frameworkVersion="1.0")), "frameworkVersion must be 2.0"),
    "unsigned urls": (_manifest(lambda m: m.pop("signedUrls")), "signedUrls must be true"),
    "top bar": (_manifest(lambda m: m["location"]["support"].update(top_bar={"url": "https://x"})), "only location"),
    "new ticket sidebar": (_manifest(lambda m: _move_sidebar(m, "new_ticket_sidebar")), "only location"),
    "http url": (_manifest(lambda m: _set_url(m, "http://tactful.example.com" + PATH)), "must be https"),
    "url from a text setting": (_manifest(lambda m: m["parameters"][0].update(type="text")), "must be https"),
    "not the zendesk mode": (
        _manifest(lambda m: _set_url(m, "{{setting.tactful_url}}" + PATH.replace("zendesk", "x"))),
        "must contain helpdesk=zendesk",
    ),
    "undeclared setting": (
        _manifest(lambda m: m["parameters"].pop(1)),
        "{{setting.installation_id}} is used but not declared",
    ),
    "secure setting in the url": (
        _manifest(lambda m: m["parameters"][1].update(secure=True)),
        "secure setting 'installation_id'",
    ),
    "duplicate parameter": (_manifest(lambda m: m["parameters"].append(m["parameters"][0])), "declared twice"),
    "unknown parameter type": (_manifest(lambda m: m["parameters"][1].update(type="secret")), "no valid type"),
    "no app name": (_translation(lambda a: a.pop("name")), "app.name is missing"),
    "no description": (_translation(lambda a: a.pop("short_description")), "app.short_description is missing"),
    "no label": (_translation(lambda a: a["parameters"].pop("installation_id")), "'installation_id' has no label"),
    "no translations": (lambda f: (f / "translations" / "en.json").unlink(), "translations:"),
    "no logo": (lambda f: (f / "assets" / "logo.png").unlink(), "assets/logo.png"),
    "logo of the wrong size": (
        lambda f: shutil.copy(f / "assets" / "logo-small.png", f / "assets" / "logo.png"),
        "320x320",
    ),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_copy_of_the_app_is_rejected(name: str, tmp_path: Path) -> None:
    copy = tmp_path / "app"
    shutil.copytree(APP, copy)
    breaks, expected = BROKEN[name]
    breaks(copy)
    found = problems(copy)
    assert any(expected in problem for problem in found), (name, found)
