"""BertVectorizer(fast_mode=...): the opt-in faster CPU modes.

Each mode is checked against an independent fp32 forward pass (tests/reference.py):
close for the quantized modes, equal up to float rounding for ONNX fp32. The mode
must be part of the cache key, built once per process, and survive pickling.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from reference import reference_vectors

from bertfeat import BertVectorizer, _fastpath

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
def _own_home(tmp_path, monkeypatch):
    """ONNX exports go to a per-test BERTFEAT_HOME; fast encoders are rebuilt per test."""
    monkeypatch.setenv("BERTFEAT_HOME", str(tmp_path / "home"))
    _fastpath.clear_registry()
    yield
    _fastpath.clear_registry()


INT8_BARS = (0.98, 0.95) if _fastpath.has_vnni() else (0.95, 0.90)  # (mean, min) cosine to fp32
needs_onnx = pytest.mark.skipif(bool(_fastpath.missing_onnx_packages()), reason="onnxruntime/onnx not installed")


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


@needs_onnx
@pytest.mark.parametrize("pooling, layers", [("mean", "last"), ("cls", [-2, -1]), ("pooler", "last")])
def test_onnx_matches_fp32_forward(tiny_bert, pooling, layers):
    vec = BertVectorizer(tiny_bert, pooling=pooling, layers=layers, layer_agg="concat", fast_mode="onnx",
                         progress=False)
    got = vec.fit(TEXTS).transform(TEXTS)
    ref = reference_vectors(tiny_bert, TEXTS, pooling=pooling, layers=None if layers == "last" else layers,
                            layer_agg="concat")
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    assert cosines(got, ref).min() > 0.99999


@needs_onnx
def test_onnx_int8_on_real_minilm_is_close(minilm_path):
    ref = reference_vectors(minilm_path, TEXTS)
    got = BertVectorizer(fast_mode="onnx-int8", progress=False).fit(TEXTS).transform(TEXTS)
    cos = cosines(ref, got)
    low_mean, low_min = INT8_BARS
    assert cos.min() > low_min and cos.mean() > low_mean, cos
    assert not np.allclose(got, ref, atol=1e-5)


@needs_onnx
def test_onnx_sentence_pairs_use_token_types(tiny_bert):
    pairs = [("is it raining?", "yes, heavily"), ("is it raining?", "no, it is sunny")]
    got = BertVectorizer(tiny_bert, fast_mode="onnx", progress=False).fit(pairs).transform(pairs)
    ref = reference_vectors(tiny_bert, pairs, pairs=True)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_bf16_where_the_cpu_has_it_else_a_clear_error(tiny_bert):
    vec = BertVectorizer(tiny_bert, fast_mode="bf16", progress=False)
    if not _fastpath.has_native_bf16():
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
    assert _fastpath.describe("int8") in ("int8-act8", "int8-act7")
    assert _fastpath.describe("onnx") == "onnx"


def test_fast_encoder_is_built_once_per_process(tiny_bert, monkeypatch):
    calls = []
    real = _fastpath.prepare_fast
    monkeypatch.setattr(_fastpath, "prepare_fast", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    vec = BertVectorizer(tiny_bert, fast_mode="int8", progress=False).fit(TEXTS)
    vec.transform(TEXTS[:2])
    vec.transform(TEXTS[2:])
    from sklearn.base import clone

    clone(vec).fit(TEXTS).transform(TEXTS[:3])  # a clone (as in a grid search) reuses it too
    assert calls == ["int8"]


@needs_onnx
def test_onnx_export_is_kept_on_disk_and_reused(tiny_bert, tmp_path, monkeypatch):
    first = BertVectorizer(tiny_bert, fast_mode="onnx", progress=False).fit(TEXTS).transform(TEXTS)
    exports = list((tmp_path / "home" / "onnx").iterdir())
    assert len(exports) == 1 and list(exports[0].glob("*.onnx"))
    assert not [p for p in (tmp_path / "home" / "onnx").iterdir() if p.name.startswith(".export-")]
    _fastpath.clear_registry()  # as in a new process
    monkeypatch.setattr(_fastpath, "build_onnx", lambda *a, **k: pytest.fail("exported twice"))
    again = BertVectorizer(tiny_bert, fast_mode="onnx", progress=False).fit(TEXTS).transform(TEXTS)
    np.testing.assert_array_equal(first, again)


def test_pickled_fast_vectorizer_rebuilds_its_mode_and_holds_no_weights(tiny_bert):
    vec = BertVectorizer(tiny_bert, fast_mode="int8", progress=False).fit(TEXTS)
    before = vec.transform(TEXTS)
    blob = pickle.dumps(vec)
    assert len(blob) < 20_000  # parameters and fingerprint, not the quantized model
    _fastpath.clear_registry()
    restored = pickle.loads(blob)
    assert restored.fast_mode == "int8"
    np.testing.assert_allclose(restored.transform(TEXTS), before, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------ bad settings


@pytest.mark.parametrize("mode", ["fp8", "INT8", "auto", True, 8])
def test_unknown_mode_is_named(tiny_bert, mode):
    with pytest.raises(ValueError, match=r"(?s)^(?=.*'int8')(?=.*'bf16')The 'fast_mode' parameter of BertVectorizer must be a str among \{.*\} or None\. Got"):
        BertVectorizer(tiny_bert, fast_mode=mode).fit(TEXTS)


def test_fast_mode_with_a_low_precision_dtype_is_refused(tiny_bert):
    with pytest.raises(ValueError, match="leave dtype='auto'"):
        BertVectorizer(tiny_bert, fast_mode="int8", dtype="bfloat16").fit(TEXTS)


def test_missing_onnxruntime_says_what_to_install(tiny_bert, monkeypatch):
    monkeypatch.setattr(_fastpath, "missing_onnx_packages", lambda: ["onnxruntime"])
    with pytest.raises(ImportError, match=r"pip install 'bertfeat\[fast\]'"):
        BertVectorizer(tiny_bert, fast_mode="onnx").fit(TEXTS)
    BertVectorizer(tiny_bert, fast_mode="int8").fit(TEXTS)  # int8 needs nothing more


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
    monkeypatch.setattr(_fastpath, "missing_onnx_packages", lambda: ["onnxruntime"])
    assert main(["embed", str(data), "-o", str(tmp_path / "g.npy"), "--model", str(tiny_bert), "--fast-mode", "onnx"]) == 2
    assert "bertfeat[fast]" in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["int8", pytest.param("onnx", marks=needs_onnx)])
def test_distilbert_family_without_token_types(tmp_path, minilm_path, mode):
    import torch
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel

    folder = tmp_path / "distil"
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    torch.manual_seed(0)
    DistilBertModel(DistilBertConfig(vocab_size=len(tokenizer), dim=32, n_layers=2, n_heads=2, hidden_dim=37)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    got = BertVectorizer(folder, layers=[1, 2], fast_mode=mode, progress=False).fit(TEXTS).transform(TEXTS)
    ref = reference_vectors(folder, TEXTS, layers=[1, 2])
    assert cosines(got, ref).min() > (0.99999 if mode == "onnx" else 0.95)


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
