"""A small but real OpenAI-compatible chat server on a loopback port, told by each test how to behave.

It speaks the chat-completions protocol over HTTP (``POST /v1/chat/completions``, ``GET /v1/models``), records
every request body, and answers through a ``behave(request) -> Reply`` function the test sets: a JSON answer,
a stall, a 5xx or 429, garbage, or whatever a model that follows a prompt injection would say.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Request = dict[str, Any]

EMPATHY = {
    "en": "I understand how worrying it is to wait for a parcel that does not move, {name}.",
    "it": "Capisco quanto sia snervante aspettare un pacco che non si muove, {name}.",
    "es": "Entiendo lo frustrante que es esperar un paquete que no avanza, {name}.",
    "pl": "Rozumiem, jak frustrujące jest czekanie na paczkę, która stoi w miejscu, {name}.",
}
FOLLOW_UP = {
    "en": "Hello {name}, here is the update I promised: the courier has confirmed your parcel is on its way.",
    "it": "Buongiorno {name}, ecco l'aggiornamento promesso: il corriere ha confermato che il pacco è in viaggio.",
    "es": "Hola {name}, aquí tiene la novedad prometida: el transportista ha confirmado que su paquete está en camino.",
    "pl": "Dzień dobry {name}, oto obiecana informacja: kurier potwierdził, że paczka jest w drodze.",
}
LANGUAGES = {"English": "en", "Italian": "it", "Spanish": "es", "Polish": "pl"}


@dataclass
class Reply:
    content: str = ""
    status: int = 200
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    raw: str | None = None  # a body sent as is (not a chat completion)


def json_reply(obj: object, **kwargs: Any) -> Reply:
    return Reply(content=json.dumps(obj, ensure_ascii=False), **kwargs)


def task_of(request: Request) -> str:
    """Which prompt this is: ``empathy``, ``next_steps``, ``rewrite``, ``follow_up`` or ``tone_llm`` (from the
    answer format it asks for)."""
    prompt = user_prompt(request)
    markers = (("empathy", '{"phrasings"'), ("next_steps", '{"steps"'), ("rewrite", '{"rewrite"'),
               ("follow_up", '{"message"'), ("tone_llm", '{"findings"'))  # fmt: skip
    for task, marker in markers:
        if marker in prompt:
            return task
    return "unknown"


def system_prompt(request: Request) -> str:
    return next(m["content"] for m in request["messages"] if m["role"] == "system")


def user_prompt(request: Request) -> str:
    return next(m["content"] for m in request["messages"] if m["role"] == "user")


def data_blocks(request: Request) -> list[Any]:
    """The fenced data blocks of the user prompt, parsed."""
    return [json.loads(b) for b in re.findall(r"<data>\n(.*?)\n</data>", user_prompt(request), re.S)]


def language_of(request: Request) -> str:
    m = re.search(r"Write in (\w+)", system_prompt(request))
    return LANGUAGES[m[1]] if m else "en"


def customer_of(request: Request) -> str:
    m = re.search(r"Address the customer by name: (.+?)\.\n", user_prompt(request))
    return m[1] if m else ""


def good_model(request: Request) -> Reply:
    """What a capable model would answer, from what the prompt gives it."""
    task = task_of(request)
    if task == "empathy":
        return json_reply({"phrasings": [EMPATHY[language_of(request)].format(name=customer_of(request))]})
    if task == "next_steps":
        listed = data_blocks(request)[0]
        step = _first_step(listed[0]["text"])
        return json_reply({"steps": [{"text": step, "citations": [{"passage": listed[0]["id"], "quote": step}]}]})
    if task == "follow_up":
        return json_reply({"message": FOLLOW_UP[language_of(request)].format(name=customer_of(request))})
    if task == "tone_llm":  # a sincere draft, as far as this model can tell: the rules' findings stand alone
        return json_reply({"findings": []})
    draft = data_blocks(request)[0]
    body = draft.replace("Calm down. ", "").replace(", as I ALREADY told you", "")
    return json_reply({"rewrite": f"{customer_of(request)}, I understand how frustrating this wait is. {body}"})


def judging(findings: list[dict[str, str]] | Callable[[Request], Reply]) -> Callable[[Request], Reply]:
    """A capable model whose tone judgement answers ``findings`` (``quote``, ``kind``, ``reason``, ``suggestion``),
    or whatever the given ``behave`` answers to the tone judgement alone (garbage, a 500, a stall)."""

    def behave(request: Request) -> Reply:
        if task_of(request) != "tone_llm":
            return good_model(request)
        return findings(request) if callable(findings) else json_reply({"findings": findings})

    return behave


def tone_data(request: Request) -> tuple[str, list[dict[str, str]], str]:
    """What a tone-judgement prompt gives the model: the customer's last message, what the rules marked, the draft."""
    said, marked, draft = data_blocks(request)
    return said, marked, draft


def _first_step(text: str) -> str:
    """The first item of the passage's numbered list, else its first sentence."""
    item = re.search(r"^1\. (.+)$", text, re.M)
    if item:
        return item[1]
    sentence = re.search(r"^(?!#)(.+?[.!?])(?:\s|$)", text, re.M)
    return sentence[1] if sentence else text.strip()


class FakeLLM:
    """The server; ``behave`` decides each answer, ``requests`` holds what it received."""

    def __init__(self, behave: Callable[[Request], Reply] | None = None) -> None:
        self.behave: Callable[[Request], Reply] = behave or (lambda _: json_reply({}))
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def tasks(self) -> list[str]:
        with self._lock:
            return [task_of(r) for r in self.requests]

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._send(200, json.dumps({"object": "list", "data": [{"id": "fake", "object": "model"}]}), {})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                fake._record(request)
                reply = fake.behave(request)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.raw is not None or reply.status != 200:
                    body = reply.raw if reply.raw is not None else json.dumps({"error": {"message": "fake error"}})
                    self._send(reply.status, body, reply.headers)
                    return
                self._send(200, json.dumps(_completion(request, reply.content)), reply.headers)

            def _send(self, status: int, body: str, headers: dict[str, str]) -> None:
                data = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a stall test): nothing to answer

        return Handler


def _completion(request: Request, content: str) -> dict[str, Any]:
    prompt_tokens = sum(len(m["content"].split()) for m in request.get("messages", []))
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "fake"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(content.split()),
            "total_tokens": prompt_tokens + len(content.split()),
        },
    }
