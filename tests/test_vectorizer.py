"""BertVectorizer against a direct transformers forward pass, and its options."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bertfeat import BertVectorizer
from bertfeat._encode import encoding_stats
from reference import reference_vectors

TEXTS = [
    "i feel great today",
    "the hotel room was small but clean",
    "",
    "   ",
    "A much longer sentence, with punctuation; numbers like 3.14 and 42, and CAPITAL letters!",
    "short",
    "i feel great today",  # duplicate on purpose
    "emoji 😀 and accents: café naïve",
]
PAIRS = [
    ("The cat sat on the mat.", "A cat was sitting on a mat."),
    ("He bought the company in 1998.", "The firm was sold to him last week for a lot more than before."),
    ("", "only the second text"),
]


@pytest.mark.parametrize("pooling", ["cls", "mean", "max", "pooler"])
def test_minilm_vectors_equal_direct_forward_pass(minilm_path, pooling):
    vec = BertVectorizer(model=str(minilm_path), pooling=pooling).fit(TEXTS)
    got = vec.transform(TEXTS)
    want = reference_vectors(minilm_path, TEXTS, pooling=pooling)
    assert got.dtype == np.float32 and got.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_default_model_is_embedded_minilm(minilm_path):
    vec = BertVectorizer().fit(["x"])
    assert vec.model_path_ == str(minilm_path.resolve())
    assert vec.n_features_out_ == 384


@pytest.mark.parametrize("layer_agg", ["mean", "concat"])
def test_layer_selection_matches_hidden_states(tiny_bert, layer_agg):
    layers = [0, -2, -1]
    vec = BertVectorizer(model=str(tiny_bert), pooling="mean", layers=layers, layer_agg=layer_agg).fit(TEXTS)
    got = vec.transform(TEXTS)
    want = reference_vectors(tiny_bert, TEXTS, pooling="mean", layers=layers, layer_agg=layer_agg)
    assert got.shape[1] == vec.n_features_out_ == (32 * 3 if layer_agg == "concat" else 32)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_vector_does_not_depend_on_its_batch(minilm_path):
    texts = [t + f" number {i}" * (i % 7) for i, t in enumerate(TEXTS * 6)]
    together = BertVectorizer(model=str(minilm_path), batch_size=16, token_budget=512).fit(texts).transform(texts)
    alone = BertVectorizer(model=str(minilm_path), batch_size=1).fit(texts)
    for i in [0, 5, 17, 30, len(texts) - 1]:
        np.testing.assert_allclose(together[i], alone.transform([texts[i]])[0], atol=1e-5)


def test_pairs_equal_tokenizer_pair_encoding(minilm_path):
    vec = BertVectorizer(model=str(minilm_path), pooling="mean").fit(PAIRS)
    got = vec.transform(PAIRS)
    want = reference_vectors(minilm_path, PAIRS, pooling="mean", pairs=True)
    np.testing.assert_allclose(got, want, atol=1e-5)
    # A pair is not the concatenated text: segment ids and [SEP] matter.
    joined = vec.__class__(model=str(minilm_path)).fit(["x"]).transform([a + " " + b for a, b in PAIRS])
    assert np.abs(joined - got).max() > 1e-3


def test_pair_input_forms_agree(tiny_bert):
    pd = pytest.importorskip("pandas")
    vec = BertVectorizer(model=str(tiny_bert)).fit(PAIRS)
    as_tuples = vec.transform(PAIRS)
    as_array = vec.transform(np.array(PAIRS, dtype=object))
    as_lists = vec.transform([list(p) for p in PAIRS])
    frame_vec = BertVectorizer(model=str(tiny_bert)).fit(pd.DataFrame(PAIRS, columns=["a", "b"]))
    as_frame = frame_vec.transform(pd.DataFrame(PAIRS, columns=["a", "b"]))
    for other in (as_array, as_lists, as_frame):
        np.testing.assert_array_equal(as_tuples, other)
    assert vec.n_features_in_ == 2
    with pytest.raises(ValueError, match="fitted on sentence pairs but X holds single texts"):
        vec.transform(["just a text"])


def test_text_input_forms_agree(tiny_bert):
    pd = pytest.importorskip("pandas")
    vec = BertVectorizer(model=str(tiny_bert)).fit(TEXTS)
    base = vec.transform(TEXTS)
    for form in (tuple(TEXTS), np.array(TEXTS, dtype=object), np.array(TEXTS), pd.Series(TEXTS), np.array(TEXTS, dtype=object)[:, None]):
        np.testing.assert_array_equal(vec.transform(form), base)
    frame = pd.DataFrame({"text": TEXTS})
    fitted = BertVectorizer(model=str(tiny_bert)).fit(frame)
    np.testing.assert_array_equal(fitted.transform(frame), base)
    assert list(fitted.feature_names_in_) == ["text"]


def test_chinese_text_with_real_vocabulary(tiny_chinese_bert):
    from transformers import AutoTokenizer

    texts = ["这个酒店的服务很好，房间也很干净。", "位置偏僻，早餐难吃，不会再来了。", "中文 and English 混合"]
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_chinese_bert))
    ids = tokenizer(texts[0])["input_ids"]
    assert tokenizer.unk_token_id not in ids and len(ids) == len(texts[0]) + 2  # one token per character
    vec = BertVectorizer(model=str(tiny_chinese_bert), pooling="cls").fit(texts)
    np.testing.assert_allclose(vec.transform(texts), reference_vectors(tiny_chinese_bert, texts, pooling="cls"), atol=1e-5)
    pairs = [(texts[0], texts[1])]
    pair_vec = BertVectorizer(model=str(tiny_chinese_bert)).fit(pairs)
    np.testing.assert_allclose(pair_vec.transform(pairs), reference_vectors(tiny_chinese_bert, pairs, pairs=True), atol=1e-5)


def test_chunking_reads_the_whole_long_text(tiny_bert):
    import torch
    from transformers import AutoModel, AutoTokenizer

    words = [f"word{i % 97} token{i % 13}" for i in range(1200)]
    long_text = " ".join(words)
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert))
    n_tokens = len(tokenizer(long_text, add_special_tokens=False)["input_ids"])
    assert n_tokens > 5000
    vec = BertVectorizer(model=str(tiny_bert), truncation="chunk", max_length=128, stride=32).fit([long_text])
    got = vec.transform([long_text, "short text"])
    # Reference: windows from the tokenizer's overflow, each pooled alone, then averaged.
    enc = tokenizer(long_text, truncation=True, max_length=128, stride=32, return_overflowing_tokens=True)
    model = AutoModel.from_pretrained(str(tiny_bert)).eval()
    pooled = []
    with torch.no_grad():
        for ids in enc["input_ids"]:
            h = model(input_ids=torch.tensor([ids])).last_hidden_state[0]
            pooled.append(h.mean(0).numpy())
    assert len(pooled) >= n_tokens // 128
    np.testing.assert_allclose(got[0], np.mean(pooled, axis=0), atol=1e-5)
    head = BertVectorizer(model=str(tiny_bert), max_length=128).fit([long_text]).transform([long_text])
    assert np.abs(head[0] - got[0]).max() > 1e-3
    np.testing.assert_allclose(got[1], reference_vectors(tiny_bert, ["short text"], max_length=128)[0], atol=1e-5)


def test_head_truncation_respects_max_length(tiny_bert):
    text = "many words " * 400
    vec = BertVectorizer(model=str(tiny_bert), max_length=64).fit([text])
    np.testing.assert_allclose(vec.transform([text]), reference_vectors(tiny_bert, [text], max_length=64), atol=1e-5)


def test_identical_inputs_encoded_once(tiny_bert):
    vec = BertVectorizer(model=str(tiny_bert)).fit(["x"])
    before = encoding_stats()["texts"]
    out = vec.transform(["same"] * 50 + ["other"] * 10)
    assert encoding_stats()["texts"] - before == 2
    assert np.all(out[:50] == out[0]) and np.all(out[50:] == out[50])


def test_normalize_gives_unit_vectors(tiny_bert):
    vec = BertVectorizer(model=str(tiny_bert), normalize=True).fit(TEXTS)
    raw = BertVectorizer(model=str(tiny_bert)).fit(TEXTS).transform(TEXTS)
    got = vec.transform(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(got, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6)


def test_empty_input_gives_empty_array_of_known_width(tiny_bert):
    vec = BertVectorizer(model=str(tiny_bert), layers=[-1, -2], layer_agg="concat").fit(["x"])
    assert vec.transform([]).shape == (0, 64)
    assert len(vec.get_feature_names_out()) == 64


def test_out_of_memory_halves_the_batch(tiny_bert, monkeypatch):
    import torch

    import bertfeat._encode as encode

    texts = [f"text number {i} " * (1 + i % 5) for i in range(40)]
    reference = BertVectorizer(model=str(tiny_bert), batch_size=2).fit(texts).transform(texts)
    real_forward = encode._forward
    seen = []

    def forward_that_runs_out_of_memory(loaded, arrays, opts):
        seen.append(len(arrays["input_ids"]))
        if len(arrays["input_ids"]) > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(loaded, arrays, opts)

    monkeypatch.setattr(encode, "_forward", forward_that_runs_out_of_memory)
    vec = BertVectorizer(model=str(tiny_bert), batch_size=32).fit(texts)
    with pytest.warns(RuntimeWarning, match="out of memory"):
        got = vec.transform(texts)
    assert max(seen) == 32 and min(seen) <= 3
    np.testing.assert_allclose(got, reference, atol=1e-5)


def test_other_errors_are_not_taken_for_out_of_memory(tiny_bert, monkeypatch):
    import bertfeat._encode as encode

    def broken(loaded, arrays, opts):
        raise RuntimeError("something else")

    monkeypatch.setattr(encode, "_forward", broken)
    vec = BertVectorizer(model=str(tiny_bert)).fit(["a"])
    with pytest.raises(RuntimeError, match="something else"):
        vec.transform(["a", "b"])


def test_progress_bar_shows_and_silences(tiny_bert, capsys):
    texts = [f"t {i}" for i in range(20)]
    BertVectorizer(model=str(tiny_bert), progress=True).fit(texts).transform(texts)
    assert "bertfeat" in capsys.readouterr().err
    BertVectorizer(model=str(tiny_bert), progress=False).fit(texts).transform(texts)
    assert "bertfeat" not in capsys.readouterr().err


def test_distilbert_family_without_token_types_or_pooler(tmp_path, minilm_path):
    import torch
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    torch.manual_seed(0)
    model = DistilBertModel(DistilBertConfig(vocab_size=len(tokenizer), dim=32, n_layers=2, n_heads=2, hidden_dim=37))
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    vec = BertVectorizer(model=str(tmp_path), pooling="mean", layers=[1, 2], layer_agg="concat").fit(TEXTS)
    want = reference_vectors(tmp_path, TEXTS, pooling="mean", layers=[1, 2], layer_agg="concat")
    np.testing.assert_allclose(vec.transform(TEXTS), want, atol=1e-5)
    with pytest.raises(ValueError, match="has no pooler"):
        BertVectorizer(model=str(tmp_path), pooling="pooler").fit(TEXTS)


def test_mpnet_family_position_offset(tmp_path, minilm_path):
    import torch
    from transformers import AutoTokenizer, MPNetConfig, MPNetModel

    # MPNet with a WordPiece vocabulary: the model takes no segment ids, the tokenizer makes them.
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    torch.manual_seed(0)
    config = MPNetConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37)
    MPNetModel(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    vec = BertVectorizer(model=str(tmp_path), pooling="cls").fit(TEXTS)
    assert vec._options.max_length == config.max_position_embeddings - 2
    np.testing.assert_allclose(vec.transform(TEXTS), reference_vectors(tmp_path, TEXTS, pooling="cls", max_length=512), atol=1e-5)


def test_hub_id_offline_gives_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match=r"bert-base-uncased.*HF_HUB_OFFLINE=1"):
        BertVectorizer(model="some-org/bert-base-uncased-not-cached").fit(["x"])


def test_missing_model_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        BertVectorizer(model=str(tmp_path / "nowhere")).fit(["x"])
    with pytest.raises(FileNotFoundError, match="is empty"):
        BertVectorizer(model=str(tmp_path)).fit(["x"])


@pytest.mark.gpu
@pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="needs CUDA")
def test_cuda_half_precision_close_to_fp32(minilm_path):
    fp32 = BertVectorizer(model=str(minilm_path), device="cpu").fit(TEXTS).transform(TEXTS)
    for dtype in ("float16", "bfloat16", "auto"):
        got = BertVectorizer(model=str(minilm_path), device="cuda", dtype=dtype).fit(TEXTS).transform(TEXTS)
        cos = (got * fp32).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(fp32, axis=1)
        assert got.dtype == np.float32 and cos.min() > 0.999


def test_windowed_pairs_with_a_long_first_text(tiny_bert):
    """truncation='chunk' on pairs: a first text longer than the window used to crash the
    tokenizer ("Truncation error: Sequence to truncate too short") for the whole batch.
    Now the first text keeps a head of at most half the window and the second is read whole."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    max_length, stride = 32, 4
    long_a = " ".join(f"first{i}" for i in range(100))
    long_b = " ".join(f"second{i}" for i in range(100))
    pairs = [(long_a, long_b), (long_a, ""), ("short question", long_b), ("a", "b")]
    vec = BertVectorizer(model=str(tiny_bert), truncation="chunk", max_length=max_length, stride=stride).fit(pairs)
    got = vec.transform(pairs)
    assert got.shape == (4, 32) and np.isfinite(got).all()

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert))
    model = AutoModel.from_pretrained(str(tiny_bert)).eval()
    room = max_length - 3
    cap = room - max(stride + 1, (room + 1) // 2)
    head_ids = tokenizer(long_a, add_special_tokens=False)["input_ids"][:cap]

    def windows_mean(a, b):
        enc = tokenizer(a, b, truncation="only_second", max_length=max_length, stride=stride, return_overflowing_tokens=True)
        pooled = []
        with torch.no_grad():
            for ids, types in zip(enc["input_ids"], enc["token_type_ids"]):
                h = model(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([types])).last_hidden_state[0]
                pooled.append(h.mean(0).numpy())
        return np.mean(pooled, axis=0), enc

    want0, enc0 = windows_mean(tokenizer.decode(head_ids), long_b)
    first_segment = [t for t, s in zip(enc0["input_ids"][0], enc0["token_type_ids"][0]) if s == 0][1:-1]
    assert first_segment == head_ids  # the head of the first text, cut on a token boundary
    np.testing.assert_allclose(got[0], want0, atol=1e-5)
    # Pairs whose first text fits are windowed exactly as the tokenizer does it.
    np.testing.assert_allclose(got[2], windows_mean("short question", long_b)[0], atol=1e-5)


def test_cpu_fp32_forward_runs_without_onednn_and_restores_the_flag(tiny_bert, monkeypatch):
    """oneDNN caches a kernel per shape (memory grows with new batch shapes); the fp32 CPU
    forward runs without it, and the process-wide flag is restored, even after an error."""
    import torch

    import bertfeat._encode as encode

    seen = []
    real = encode._forward
    monkeypatch.setattr(encode, "_forward", lambda *a: seen.append(torch.backends.mkldnn.enabled) or real(*a))
    vec = BertVectorizer(model=str(tiny_bert), progress=False).fit(TEXTS)
    vec.transform(TEXTS)
    assert seen and not any(seen) and torch.backends.mkldnn.enabled

    def boom(*a):
        raise RuntimeError("boom")

    monkeypatch.setattr(encode, "_forward", boom)
    with pytest.raises(RuntimeError, match="boom"):
        vec.transform(["another text"])
    assert torch.backends.mkldnn.enabled


def test_onednn_flag_restored_when_transforms_overlap_in_threads(tiny_bert, monkeypatch):
    """Two threads inside the fp32 CPU forward at once: the process-wide flag must come back on."""
    import threading

    import torch

    import bertfeat._encode as encode

    inside = threading.Barrier(2, timeout=60)
    real = encode._forward

    def forward(*a):
        inside.wait()  # both threads are in the forward together
        return real(*a)

    monkeypatch.setattr(encode, "_forward", forward)
    vec = BertVectorizer(model=str(tiny_bert), progress=False, batch_size=64).fit(TEXTS)
    results = []
    threads = [threading.Thread(target=lambda: results.append(vec.transform(TEXTS))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and torch.backends.mkldnn.enabled
