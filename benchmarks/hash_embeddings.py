"""A deterministic stand-in for an OpenAI-compatible embeddings endpoint, for benchmarks only (not a model).

    .venv/bin/python benchmarks/hash_embeddings.py --port 8765
    TACTFUL_EMBEDDINGS_BASE_URL=http://127.0.0.1:8765/v1 TACTFUL_EMBEDDINGS_MODEL=hash-384 ...

The bundled e5 embeds about 10-30 chunks a second here, so 300,000 chunks would take hours. This server answers
``POST /v1/embeddings`` (OpenAI's request and answer, floats or base64 as the client asks) with feature-hashed
vectors: each lower-cased word adds +-1 to three of 384 dimensions chosen by its BLAKE2 hash, then the vector is
L2-normalised. Texts sharing words are near each other, so Chroma's HNSW graph and the hybrid ranking see a
realistic neighbourhood structure rather than uniform noise; retrieval quality is not what it measures.
``embed`` is the same function in process (the benchmark's bulk ingest uses it: the same vectors without HTTP).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
from collections.abc import Sequence
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

DIMENSIONS = 384
HASHES = 3  # dimensions each word touches
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@lru_cache(maxsize=500_000)
def _features(word: str) -> tuple[tuple[int, float], ...]:
    digest = hashlib.blake2b(word.encode(), digest_size=2 * HASHES).digest()
    return tuple(
        (int.from_bytes(digest[2 * i : 2 * i + 2], "little") % DIMENSIONS, 1.0 if digest[2 * i] & 1 else -1.0)
        for i in range(HASHES)
    )


def embed_one(text: str) -> np.ndarray:
    vec = np.zeros(DIMENSIONS, dtype=np.float32)
    for word in _WORD.findall(text.lower()) or [""]:
        for dim, sign in _features(word):
            vec[dim] += sign
    norm = float(np.linalg.norm(vec))
    if norm == 0.0:  # words cancelling out: a fixed unit vector
        vec[0], norm = 1.0, 1.0
    return vec / norm


def embed(texts: Sequence[str]) -> np.ndarray:
    """One L2-normalised row per text."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    return np.vstack([embed_one(t) for t in texts])


def answer(body: dict[str, object]) -> dict[str, object]:
    """OpenAI's ``/embeddings`` answer for a request body (``input``: a string or a list of strings)."""
    raw = body.get("input", [])
    texts = [raw] if isinstance(raw, str) else [str(t) for t in raw] if isinstance(raw, list) else []
    vectors = embed(texts)
    as_base64 = body.get("encoding_format") == "base64"
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64.b64encode(v.astype("<f4").tobytes()).decode() if as_base64 else v.tolist(),
        }
        for i, v in enumerate(vectors)
    ]
    words = sum(len(_WORD.findall(t)) for t in texts)
    return {"object": "list", "data": data, "model": str(body.get("model", "hash-384")),
            "usage": {"prompt_tokens": words, "total_tokens": words}}  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK wait

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        status, payload = (200, answer(body)) if self.path.endswith("/embeddings") else (404, {"error": "not found"})
        out = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *_: object) -> None:
        """Quiet: the benchmark prints its own figures, not a line per request."""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), _Handler)
    print(f"embeddings http://{args.host}:{args.port}/v1", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
