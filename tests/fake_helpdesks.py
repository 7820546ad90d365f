"""Helpdesk APIs played by small real HTTP servers on loopback ports (the one edge Tactful cannot run here): they
record what Tactful sends, so that a note is asserted, not assumed."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeChatwootNotes:
    """Chatwoot's messages API: records each private note (path, token header, body) and answers its id."""

    def __init__(self) -> None:
        fake = self
        self.notes: list[tuple[str, str, dict[str, Any]]] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reads ``notes``."""

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.notes.append((self.path, self.headers.get("api_access_token", ""), body))
                answer = json.dumps({"id": 9000 + len(fake.notes), "private": True}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"
