"""Small, fixed test data: a tiny multilingual knowledge base, conversations, and the rules engine over them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assist.engine import AssistEngine
from assist.models import Assistance, Conversation, Passage
from kb_index.documents import SourceDocument

KEYS = {"agent": "agent-key-123", "supervisor": "super-key-123", "knowledge": "know-key-123", "admin": "admin-key-123"}
API_KEYS = ",".join(f"{role}:{key}" for role, key in KEYS.items())


def small_kb() -> list[SourceDocument]:
    return [
        SourceDocument(
            id="late-parcel-en",
            title="Late or lost parcels",
            language="en",
            kind="procedure",
            text="# Late or lost parcels\n\nParcels usually arrive within 3 business days.\n\n## Steps\n\n"
            "1. Ask the customer for the order number and check the tracking page.\n"
            "2. If the tracking shows no movement for 5 business days, open a claim with the courier.\n"
            "3. Tell the customer the claim number and that the courier answers within 2 business days.\n"
            "4. If the parcel is declared lost, send a replacement or issue a refund.\n",
        ),
        SourceDocument(
            id="rimborsi-it",
            title="Rimborsi e resi",
            language="it",
            kind="policy",
            text="# Rimborsi e resi\n\nIl reso è possibile entro 30 giorni dalla consegna.\n\n## Tempi\n\n"
            "Il rimborso viene emesso entro 5 giorni lavorativi dalla ricezione del reso. "
            "Non promettere mai un rimborso in giornata.\n\n## Procedura\n\n"
            "1. Verificare che l'ordine sia stato consegnato da meno di 30 giorni.\n"
            "2. Creare l'etichetta di reso e inviarla al cliente.\n"
            "3. Confermare al cliente che il rimborso arriva entro 5 giorni lavorativi dalla ricezione.\n",
        ),
        SourceDocument(
            id="contrasena-es",
            title="Restablecer la contraseña",
            language="es",
            kind="procedure",
            text="# Restablecer la contraseña\n\nSi el cliente no puede entrar en su cuenta:\n\n## Pasos\n\n"
            "1. Pida al cliente que abra la página de inicio de sesión y pulse «¿Olvidó su contraseña?».\n"
            "2. Compruebe que el correo de restablecimiento no esté en la carpeta de spam.\n"
            "3. Si la cuenta está bloqueada tras cinco intentos, desbloquéela desde el panel de cuentas.\n"
            "4. Recomiende activar la verificación en dos pasos.\n",
        ),
        SourceDocument(
            id="router-pl",
            title="Urządzenie nie łączy się z Wi-Fi",
            language="pl",
            kind="procedure",
            text="# Urządzenie nie łączy się z Wi-Fi\n\n## Kroki\n\n"
            "1. Poproś klienta o ponowne uruchomienie routera.\n"
            "2. Sprawdź, czy urządzenie jest w zasięgu sieci 2,4 GHz.\n"
            "3. Przywróć ustawienia fabryczne urządzenia, przytrzymując przycisk przez 10 sekund.\n"
            "4. Dodaj urządzenie ponownie w aplikacji Lumora Home.\n",
        ),
        SourceDocument(
            id="prestige-en",
            title="Lumora Prestige concierge",
            language="en",
            kind="policy",
            text="# Lumora Prestige concierge\n\nPrestige customers have a dedicated manager.\n\n## Commitments\n\n"
            "1. Call the customer back within 2 business hours.\n"
            "2. Offer a courtesy replacement while the device is repaired.\n",
        ),
    ]


def conversation(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "conv-1",
        "customer": {"id": "c1", "name": "Ada"},
        "case": {"purchase_value": 80, "product_complexity": "medium"},
        "messages": [{"role": "customer", "text": "My parcel is late, there has been no tracking update for a week."}],
    }
    base.update(overrides)
    return base


DRAFT = "Calm down. Your order #A1234 of €59.99 will arrive on 2024-05-03, as I ALREADY told you."


@dataclass(frozen=True)
class Search:
    query: str
    k: int
    language: str | None
    filters: dict[str, str] | None


@dataclass
class StaticRetriever:
    """The engine's retriever port answered from a fixed list of passages, keeping what it was asked."""

    passages: list[Passage]
    searches: list[Search] = field(default_factory=list)

    def search(
        self, query: str, *, k: int = 5, language: str | None = None, filters: dict[str, str] | None = None
    ) -> list[Passage]:
        self.searches.append(Search(query, k, language, filters))
        wanted = (filters or {}).items()
        return [p for p in self.passages if all(getattr(p, key, None) == value for key, value in wanted)][:k]


def passages() -> list[Passage]:
    """The small knowledge base's documents as retrieved passages, one each, in ``small_kb()`` order."""
    return [
        Passage(
            document_id=d.id,
            chunk_id=f"{d.id}#0",
            title=d.title,
            text=d.text,
            score=0.9,
            relevance=0.9,
            language=d.language or "",
            kind=d.kind,
            topic=d.topic,
        )
        for d in small_kb()
    ]


def rules(conv: dict[str, Any], draft: str | None = DRAFT) -> tuple[Assistance, list[Passage], Conversation]:
    """The rules engine's answer to ``conv`` over ``passages()``, the passages it used, and the conversation."""
    c = Conversation.model_validate(conv)
    assistance, found = AssistEngine(StaticRetriever(passages())).assist_with_passages(c, draft=draft)
    return assistance, found, c
