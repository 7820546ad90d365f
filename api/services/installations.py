"""Helpdesk installations (tenants): one Tactful serves several Chatwoot, Zendesk and Zammad installations, each
with its own address, allowed frame origins and secrets. Secrets are encrypted at rest and never answered."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from api.persistence.database import Database, iso
from api.persistence.tables import InstallationRow, utcnow
from api.secrets import SecretBox
from api.services.tone_gate import GatePolicy
from assist.contact_level import ContactRules
from assist.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class Installation:
    """An installation with its secrets opened, for the code that talks to the helpdesk (never to a client)."""

    id: str
    kind: str
    base_url: str
    api_token: str
    webhook_secret: str
    app_public_key: str | None = None


@dataclass(frozen=True)
class AssistSettings:
    """What an installation decides for its conversations' assists (no secret): the scope tags of the documents its
    agents see (None: every document) and its contact-level rules."""

    installation_id: str | None = None
    scope: tuple[str, ...] | None = None
    contact_rules: ContactRules | None = None


NO_INSTALLATION = AssistSettings()
# A helpdesk conversation of a registered installation: "<kind>-<installation id>-<the helpdesk's id>".
_CONVERSATION = re.compile(r"^(chatwoot|zendesk|zammad)-([A-Za-z0-9]{1,40})-(.+)$")


def installation_of(conversation_id: str | None) -> tuple[str, str] | None:
    """The kind and the installation id a conversation id names, if it names one."""
    match = _CONVERSATION.match(conversation_id or "")
    return (match.group(1), match.group(2)) if match else None


def _contact_rules(stored: dict[str, Any] | None) -> ContactRules:
    return ContactRules.model_validate(stored or {})


def _stored_rules(rules: ContactRules | dict[str, Any]) -> dict[str, Any]:
    checked = rules if isinstance(rules, ContactRules) else ContactRules.model_validate(rules)
    return checked.model_dump(mode="json", exclude_none=True)


def installation_json(row: InstallationRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "name": row.name,
        "base_url": row.base_url,
        "allowed_origins": list(row.allowed_origins or []),
        "tone_gate": GatePolicy.stored(row.tone_gate).as_json(),
        "app_public_key": row.app_public_key,
        "knowledge_scope": list(row.knowledge_scope or []),
        "contact_rules": _contact_rules(row.contact_rules).model_dump(mode="json", exclude_none=True),
        "created_at": iso(row.created_at),
        "rotated_at": iso(row.rotated_at) or None,
    }


ORIGINS_TTL_S = 30.0  # another process's new installation frames the sidebar within this


class Installations:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db = db
        self.box = box
        self._origins: tuple[float, tuple[str, ...]] | None = None

    def frame_origins(self) -> tuple[str, ...]:
        """Every installation's allowed frame origins (the sidebar may be embedded there), read at most every
        ``ORIGINS_TTL_S`` seconds and at once after a change made here."""
        now = time.monotonic()
        if self._origins is None or now - self._origins[0] > ORIGINS_TTL_S:
            with self.db.session() as s:
                lists = s.scalars(select(InstallationRow.allowed_origins)).all()
            self._origins = (now, tuple(sorted({o for origins in lists for o in origins or []})))
        return self._origins[1]

    def create(
        self,
        *,
        kind: str,
        name: str,
        base_url: str,
        api_token: str,
        webhook_secret: str,
        allowed_origins: list[str],
        tone_gate: dict[str, Any] | None = None,
        app_public_key: str | None = None,
        knowledge_scope: Sequence[str] = (),
        contact_rules: ContactRules | dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if not api_token and kind != "zendesk":  # Zendesk's sidebar app writes into the reply box itself
            raise InvalidInput(f"a {kind} installation needs the helpdesk's API token", field="api_token")
        row = InstallationRow(
            id=uuid.uuid4().hex[:12], kind=kind, name=name, base_url=base_url.rstrip("/"),
            api_token=self.box.seal(api_token), webhook_secret=self.box.seal(webhook_secret),
            allowed_origins=allowed_origins, tone_gate=GatePolicy.stored(tone_gate).as_json(),
            app_public_key=app_public_key, knowledge_scope=[*knowledge_scope],
            contact_rules=_stored_rules(contact_rules or {}),
        )  # fmt: skip
        with self.db.session() as s:
            s.add(row)
            s.flush()
            created = installation_json(row)
        self._origins = None
        return created

    def list(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.query(InstallationRow).order_by(InstallationRow.created_at).all()
            return [installation_json(r) for r in rows]

    def rotate(self, installation_id: str, *, api_token: str | None, webhook_secret: str | None) -> dict[str, Any]:
        with self.db.session() as s:
            row = self._row(s, installation_id)
            if api_token is not None:
                row.api_token = self.box.seal(api_token)
            if webhook_secret is not None:
                row.webhook_secret = self.box.seal(webhook_secret)
            row.rotated_at = utcnow()
            return installation_json(row)

    def update(
        self,
        installation_id: str,
        *,
        name: str | None = None,
        allowed_origins: Sequence[str] | None = None,
        tone_gate: dict[str, Any] | None = None,
        app_public_key: str | None = None,
        knowledge_scope: Sequence[str] | None = None,
        contact_rules: ContactRules | dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Change what is given (secrets change through ``rotate``)."""
        with self.db.session() as s:
            row = self._row(s, installation_id)
            if name is not None:
                row.name = name
            if allowed_origins is not None:
                row.allowed_origins = [*allowed_origins]
            if tone_gate is not None:
                row.tone_gate = GatePolicy.stored(tone_gate).as_json()
            if app_public_key is not None:
                row.app_public_key = app_public_key
            if knowledge_scope is not None:
                row.knowledge_scope = [*knowledge_scope]
            if contact_rules is not None:
                row.contact_rules = _stored_rules(contact_rules)
            updated = installation_json(row)
        self._origins = None
        return updated

    def remove(self, installation_id: str) -> None:
        with self.db.session() as s:
            s.delete(self._row(s, installation_id))
        self._origins = None

    def get(self, installation_id: str, *, kind: str | None = None) -> Installation:
        """An installation with its secrets opened; ``NotFound`` when unknown (or of another kind)."""
        with self.db.session() as s:
            row = self._row(s, installation_id)
            if kind is not None and row.kind != kind:
                raise NotFound(f"no {kind} installation with id {installation_id!r}", field="installation_id")
            return Installation(
                row.id, row.kind, row.base_url, self.box.open(row.api_token), self.box.open(row.webhook_secret),
                row.app_public_key,
            )  # fmt: skip

    def app_public_key(self, installation_id: str, *, kind: str) -> tuple[str, str | None]:
        """The installation's base URL and app public key (no secret is opened: the sidebar's sign-in reads it);
        ``NotFound`` when unknown or of another kind."""
        with self.db.session() as s:
            row = self._row(s, installation_id)
            if row.kind != kind:
                raise NotFound(f"no {kind} installation with id {installation_id!r}", field="installation_id")
            return row.base_url, row.app_public_key

    def tone_gate(self, installation_id: str) -> GatePolicy:
        """The installation's pre-send tone gate (no secret is opened: agents' requests read it)."""
        with self.db.session() as s:
            return GatePolicy.stored(self._row(s, installation_id).tone_gate)

    def assist_settings(
        self, *, installation_id: str | None = None, conversation_id: str | None = None
    ) -> AssistSettings:
        """The knowledge scope and contact-level rules of the installation named (an agent token's: ``NotFound``
        when it is gone), else of the one ``conversation_id`` belongs to (``<kind>-<installation>-<id>``); no
        installation: every document and no rules. Read at each request, so a change applies at once."""
        kind = None
        if installation_id is None:
            named = installation_of(conversation_id)
            if named is None:
                return NO_INSTALLATION
            kind, installation_id = named
        with self.db.session() as s:
            row = s.get(InstallationRow, installation_id)
            if row is None or (kind is not None and row.kind != kind):
                if kind is None:
                    raise NotFound(f"no installation with id {installation_id!r}", field="installation_id")
                return NO_INSTALLATION
            scope = tuple(row.knowledge_scope or ())
            return AssistSettings(row.id, scope or None, _contact_rules(row.contact_rules))

    @staticmethod
    def _row(s: Any, installation_id: str) -> InstallationRow:
        row = s.get(InstallationRow, installation_id)
        if row is None:
            raise NotFound(f"no installation with id {installation_id!r}", field="installation_id")
        return row
