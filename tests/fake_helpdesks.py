"""Helpdesk APIs played by small real HTTP servers on loopback ports (the one edge Tactful cannot run here): they
record what Tactful sends, so that a note is asserted, not assumed."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def answer(handler: BaseHTTPRequestHandler, status: int, payload: object) -> None:
    body = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class FakeChatwootNotes:
    """Chatwoot's messages API: records each private note (path, token header, body) and answers its id; lists
    the messages of the conversations in ``visible`` (by their messages path) to ``token``, shows the conversations
    in ``conversations`` (by their path) and each account's ``agents``; 404 for anything else. A test sets
    ``status`` (500) to have every request recorded and answered with that error, or calls ``stop`` to make
    Chatwoot unreachable."""

    def __init__(self, *, token: str = "cw-token") -> None:
        fake = self
        self.notes: list[tuple[str, str, dict[str, Any]]] = []
        self.visible: dict[str, list[dict[str, Any]]] = {}
        self.conversations: set[str] = set()
        self.agents: dict[str, list[dict[str, Any]]] = {}
        self.gets: list[str] = []
        self.status = 200

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reads ``notes``."""

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.notes.append((self.path, self.headers.get("api_access_token", ""), body))
                if fake.status != 200:
                    answer(self, fake.status, {"error": "Internal Server Error"})
                    return
                answer(self, 200, {"id": 9000 + len(fake.notes), "private": True})

            def do_GET(self) -> None:
                fake.gets.append(self.path)
                if fake.status != 200:
                    answer(self, fake.status, {"error": "Internal Server Error"})
                    return
                agents = re.fullmatch(r"/api/v1/accounts/(\d+)/agents", self.path)
                if self.headers.get("api_access_token") != token:
                    answer(self, 404, {"error": "Resource could not be found"})
                elif self.path in fake.visible:
                    answer(self, 200, {"meta": {}, "payload": fake.visible[self.path]})
                elif self.path in fake.conversations:
                    answer(self, 200, {"id": int(self.path.rsplit("/", 1)[1]), "status": "open", "messages": []})
                elif agents and agents.group(1) in fake.agents:
                    answer(self, 200, fake.agents[agents.group(1)])
                else:
                    answer(self, 404, {"error": "Resource could not be found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Chatwoot down: the port closed, so a request is refused."""
        self.server.shutdown()
        self.server.server_close()


class FakeZammad:
    """Zammad's ticket_articles API: records each note (with its Authorization header) and answers its id, or
    fails with ``status`` when a test sets it; shows ``tickets`` and ``users`` (by id) to ``token``."""

    def __init__(self, *, token: str = "zammad-token-abc") -> None:
        fake = self
        self.notes: list[tuple[str, dict[str, Any]]] = []
        self.status = 201
        self.tickets: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reads ``notes``."""

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.notes.append((self.headers.get("Authorization", ""), body))
                known = self.path == "/api/v1/ticket_articles"
                ok = known and fake.status == 201
                answer(self, fake.status if known else 404, {"id": 700 + len(fake.notes)} if ok else {"error": "boom"})

            def do_GET(self) -> None:
                found = re.fullmatch(r"/api/v1/(tickets|users)/(\d+)(\?expand=true)?", self.path)
                listed = {"tickets": fake.tickets, "users": fake.users}[found.group(1)] if found else {}
                item = listed.get(found.group(2)) if found else None
                if self.headers.get("Authorization") != f"Token token={token}":
                    answer(self, 401, {"error": "authentication failed"})
                elif item is None:
                    answer(self, 404, {"error": "Not authorized"})
                else:
                    answer(self, 200, item)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


class FakeZendesk:
    """Zendesk's ticket API: records each PUT (path, Authorization header, body) and answers the ticket's audit with
    the new comment's id, or fails with ``status`` when a test sets it; shows the ``tickets`` and their ``comments``
    (by ticket id, two to a page) to ``authorization``, recording each GET."""

    def __init__(self, *, authorization: str = "") -> None:
        fake = self
        self.updates: list[tuple[str, str, dict[str, Any]]] = []
        self.status = 200
        self.tickets: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self.gets: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reads ``updates``."""

            def do_GET(self) -> None:
                fake.gets.append(self.path)
                ticket = re.fullmatch(r"/api/v2/tickets/(\d+)\.json", self.path)
                listed = re.fullmatch(r"/api/v2/tickets/(\d+)/comments\.json(?:\?page=(\d+))?", self.path)
                if authorization and self.headers.get("Authorization") != authorization:
                    answer(self, 401, {"error": "Couldn't authenticate you"})
                elif ticket and ticket.group(1) in fake.tickets:
                    answer(self, 200, {"ticket": fake.tickets[ticket.group(1)]})
                elif listed and listed.group(1) in fake.comments:
                    page = int(listed.group(2) or 1)
                    comments = fake.comments[listed.group(1)]
                    more = len(comments) > page * 2
                    next_page = f"{fake.url}/api/v2/tickets/{listed.group(1)}/comments.json?page={page + 1}"
                    answer(self, 200, {"comments": comments[(page - 1) * 2 : page * 2],
                                       "next_page": next_page if more else None})  # fmt: skip
                else:
                    answer(self, 404, {"error": "RecordNotFound"})

            def do_PUT(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.updates.append((self.path, self.headers.get("Authorization", ""), body))
                found = re.fullmatch(r"/api/v2/tickets/(\d+)\.json", self.path)
                if not found or fake.status != 200:
                    answer(self, 404 if not found else fake.status, {"error": "RecordNotFound"})
                    return
                comment = {"id": 5000 + len(fake.updates), "type": "Comment", "public": body["ticket"]["comment"]
                           ["public"], "body": body["ticket"]["comment"]["body"]}  # fmt: skip
                answer(self, 200, {"ticket": {"id": int(found.group(1))}, "audit": {"id": 9, "events": [comment]}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"
