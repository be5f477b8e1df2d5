"""BertVectorizer(fast_mode=...): the opt-in faster CPU modes.

Each mode is checked against an independent fp32 forward pass (tests/reference.py).
The mode must be part of the cache key, built once per process, survive pickling, and
leave the process's torch settings as it found them. The ONNX modes are refused.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from reference import reference_vectors

from bertfeat import BertVectorizer, _fast, free_models
from bertfeat._fast import prepare as fast_prepare
from bertfeat._store import store_stats

TEXTS = [
    "the hotel was clean and the staff were friendly",
    "i feel so tired and sad today",
    "what a wonderful surprise, thank you all",
    "the train was late again, i am furious",
    "short",
    "a somewhat longer sentence that goes on for a while to give the encoder more tokens to read",
]


def cosines(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(1)


@pytest.fixture(autouse=True)
def _fresh_store():
    """Fast encoders are rebuilt per test."""
    free_models()
    yield
    free_models()


INT8_BARS = (0.98, 0.95) if _fast.has_vnni() else (0.95, 0.90)  # (mean, min) cosine to fp32


# ------------------------------------------------------------------------ fidelity


def test_int8_on_real_minilm_is_close_but_not_identical(minilm_path):
    ref = reference_vectors(minilm_path, TEXTS)
    got = BertVectorizer(fast_mode="int8", progress=False).fit(TEXTS).transform(TEXTS)
    cos = cosines(ref, got)
    # Measured on 2,000 tweets (BENCHMARKS.md): mean 0.992, min 0.981 with 8-bit activations
    # (VNNI CPUs); about 0.97 mean with the 7-bit activations kept elsewhere.
    low_mean, low_min = INT8_BARS
    assert cos.min() > low_min, cos
    assert cos.mean() > low_mean, cos
    assert not np.allclose(got, ref, atol=1e-5), "int8 mode did not change anything: is it active?"
    assert got.dtype == np.float32


def test_bf16_where_the_cpu_has_it_else_a_clear_error(tiny_bert):
    vec = BertVectorizer(tiny_bert, fast_mode="bf16", progress=False)
    if not _fast.has_native_bf16():
        with pytest.raises(ValueError, match="native bf16"):
            vec.fit(TEXTS)
        return
    got = vec.fit(TEXTS).transform(TEXTS)
    assert cosines(got, reference_vectors(tiny_bert, TEXTS)).min() > 0.999


# ------------------------------------------------------------------------ cache, reuse, pickling


def test_fast_and_exact_vectors_never_share_a_cache_entry(tiny_bert, tmp_path):
    exact = BertVectorizer(tiny_bert, cache_dir=tmp_path / "cache", progress=False).fit(TEXTS)
    exact_vectors = exact.transform(TEXTS)
    fast = BertVectorizer(tiny_bert, cache_dir=tmp_path / "cache", fast_mode="int8", progress=False).fit(TEXTS)
    first = fast.transform(TEXTS)
    assert fast.cache_info()["misses"] == len(TEXTS)  # nothing answered from the fp32 entries
    assert not np.array_equal(first, exact_vectors)
    again = BertVectorizer(tiny_bert, cache_dir=tmp_path / "cache", fast_mode="int8", progress=False).fit(TEXTS)
    np.testing.assert_array_equal(again.transform(TEXTS), first)
    assert again.cache_info()["hits"] == len(TEXTS)
    np.testing.assert_array_equal(exact.transform(TEXTS), exact_vectors)  # exact entries untouched


def test_the_int8_cache_key_names_the_activation_width():
    assert _fast.describe("int8") == ("int8-act8" if _fast.has_vnni() else "int8-act7")
    assert _fast.describe("bf16") == "bf16"


def test_fast_encoder_is_built_once_per_process(tiny_bert, monkeypatch):
    calls = []
    real = fast_prepare.prepare_fast
    monkeypatch.setattr(fast_prepare, "prepare_fast", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    vec = BertVectorizer(tiny_bert, fast_mode="int8", progress=False).fit(TEXTS)
    vec.transform(TEXTS[:2])
    vec.transform(TEXTS[2:])
    from sklearn.base import clone

    clone(vec).fit(TEXTS).transform(TEXTS[:3])  # a clone (as in a grid search) reuses it too
    assert calls == ["int8"]


def test_pickled_fast_vectorizer_rebuilds_its_mode_and_holds_no_weights(tiny_bert):
    vec = BertVectorizer(tiny_bert, fast_mode="int8", progress=False).fit(TEXTS)
    before = vec.transform(TEXTS)
    blob = pickle.dumps(vec)
    assert len(blob) < 20_000  # parameters and fingerprint, not the quantized model
    del vec
    free_models()
    restored = pickle.loads(blob)
    assert restored.fast_mode == "int8"
    np.testing.assert_allclose(restored.transform(TEXTS), before, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------ bad settings


@pytest.mark.parametrize("mode", ["fp8", "INT8", "auto", True, 8])
def test_unknown_mode_is_named(tiny_bert, mode):
    with pytest.raises(ValueError, match=r"(?s)^(?=.*'int8')(?=.*'bf16')The 'fast_mode' parameter of BertVectorizer must be a str among \{.*\} or None\. Got"):
        BertVectorizer(tiny_bert, fast_mode=mode).fit(TEXTS)


@pytest.mark.parametrize("mode", ["onnx", "onnx-int8"])
def test_dropped_onnx_modes_say_why_and_what_to_use(tiny_bert, mode):
    why = rf"fast_mode='{mode}' was removed: ONNX Runtime .*measured.*use fast_mode='int8'"
    with pytest.raises(ValueError, match=why):
        BertVectorizer(tiny_bert, fast_mode=mode).fit(TEXTS)
    with pytest.raises(ValueError, match=rf"mode='{mode}' was removed"):
        fast_prepare.prepare_fast(None, mode)


def test_fast_mode_with_a_low_precision_dtype_is_refused(tiny_bert):
    with pytest.raises(ValueError, match="leave dtype='auto'"):
        BertVectorizer(tiny_bert, fast_mode="int8", dtype="bfloat16").fit(TEXTS)


def test_fast_mode_on_a_gpu_is_refused(tiny_bert, monkeypatch):
    """The check runs on the resolved device; simulated here, real on a GPU in test_gpu."""
    import torch

    vec = BertVectorizer(tiny_bert, fast_mode="int8").fit(TEXTS)
    loaded = vec._load()
    fake = type(loaded)(**{**loaded.__dict__, "device": torch.device("cuda")})
    with pytest.raises(ValueError, match="CPU mode but the model runs on cuda"):
        vec._resolve_setup(fake)


def test_command_line_embed_with_fast_mode(tiny_bert, tmp_path, monkeypatch, capsys):
    from bertfeat.cli import main

    data = tmp_path / "texts.txt"
    data.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    assert main(["embed", str(data), "-o", str(tmp_path / "f.npy"), "--model", str(tiny_bert), "--fast-mode", "int8"]) == 0
    want = BertVectorizer(tiny_bert, fast_mode="int8").fit(TEXTS).transform(TEXTS)
    np.testing.assert_allclose(np.load(tmp_path / "f.npy"), want, atol=1e-6)
    with pytest.raises(SystemExit):  # not among the choices any more
        main(["embed", str(data), "-o", str(tmp_path / "g.npy"), "--model", str(tiny_bert), "--fast-mode", "onnx"])
    assert "invalid choice: 'onnx'" in capsys.readouterr().err


def test_distilbert_family_without_token_types(tmp_path, minilm_path):
    import torch
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel

    folder = tmp_path / "distil"
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    torch.manual_seed(0)
    DistilBertModel(DistilBertConfig(vocab_size=len(tokenizer), dim=32, n_layers=2, n_heads=2, hidden_dim=37)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    got = BertVectorizer(folder, layers=[1, 2], fast_mode="int8", progress=False).fit(TEXTS).transform(TEXTS)
    ref = reference_vectors(folder, TEXTS, layers=[1, 2])
    assert cosines(got, ref).min() > 0.95


@pytest.mark.gpu
@pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="needs CUDA")
def test_fast_mode_on_a_real_gpu_is_refused_and_cpu_still_works(tiny_bert):
    with pytest.raises(ValueError, match="CPU mode but the model runs on cuda"):
        BertVectorizer(tiny_bert, device="cuda", fast_mode="int8").fit(TEXTS)
    got = BertVectorizer(tiny_bert, device="cpu", fast_mode="int8").fit(TEXTS).transform(TEXTS)
    assert cosines(got, reference_vectors(tiny_bert, TEXTS)).min() > 0.95


def test_fast_modes_keep_onednn_for_their_kernels(tiny_bert, monkeypatch):
    import torch

    import bertfeat._encode as encode

    seen = []
    real = encode._forward
    monkeypatch.setattr(encode, "_forward", lambda *a: seen.append(torch.backends.mkldnn.enabled) or real(*a))
    BertVectorizer(tiny_bert, fast_mode="int8", progress=False).fit(TEXTS).transform(TEXTS)
    assert seen and all(seen)


def test_int8_leaves_the_quantized_engine_as_it_found_it(tiny_bert):
    """Packing int8 weights needs the x86 engine; the process's own choice comes back after
    (before the fix the engine stayed switched for the rest of the process)."""
    import torch

    other = next((e for e in ("qnnpack", "onednn") if e in torch.backends.quantized.supported_engines), None)
    if other is None:
        pytest.skip("no second quantized engine in this torch build")
    before = torch.backends.quantized.engine
    torch.backends.quantized.engine = other
    try:
        got = BertVectorizer(tiny_bert, fast_mode="int8", progress=False).fit(TEXTS).transform(TEXTS)
        assert torch.backends.quantized.engine == other
    finally:
        torch.backends.quantized.engine = before
    assert cosines(got, reference_vectors(tiny_bert, TEXTS)).min() > 0.95
