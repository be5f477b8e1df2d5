"""The fast encode path (issue 12): Rust batch tokenization into flat arrays, collation on
the device, chunks tokenized one ahead in a thread. References are the tokenizer's own
call and direct transformers forward passes, never the path's own output."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch
from conftest import chinese_vocab_dir, data_dir
from reference import reference_vectors

import bertfeat._encode as encode
from bertfeat import BertVectorizer, FineTuneClassifier
from bertfeat._batching import _first_text_heads, collate, tokenize
from bertfeat._tokenize import backend_for

TEXTS = [
    "i feel great today",
    "",
    " ",
    "\n\t ",
    "emoji 😀 and accents: café naïve, Ünïcödé",
    "special strings [CLS] [SEP] [MASK] <s> </s> <mask> [UNK] inside",
    "中文 and English 混合，标点。",
    "A much longer sentence, with punctuation; numbers like 3.14 and 42, and CAPITAL letters!",
    " ".join(f"word{i % 97} token{i % 13}" for i in range(1500)),  # ~6,000 tokens
]
PAIRS = [
    ("The cat sat on the mat.", "A cat was sitting on a mat."),
    ("", "only the second text"),
    ("only the first", ""),
    ("short question", " ".join(f"answer{i % 41}" for i in range(400))),
    ("中文问题", "中文回答，很长的回答。" * 20),
]
SETTINGS = [  # (form, truncation, max_length, stride)
    ("texts", "head", 512, 0),
    ("texts", "head", 16, 0),
    ("texts", "chunk", 16, 4),
    ("texts", "chunk", 64, 16),
    ("pairs", "head", 512, 0),
    ("pairs", "head", 24, 0),
    ("pairs", "chunk", 32, 4),
]


def emotion_tweets(n: int) -> list[str]:
    folder = data_dir()
    if folder is None:
        return []
    with open(folder / "emotion" / "train.jsonl", encoding="utf-8") as handle:
        return [json.loads(line)["text"] for _, line in zip(range(n), handle)]


@pytest.fixture(scope="module")
def families(minilm_path, tmp_path_factory):
    """(name, tokenizer, token_types) for each family the vectorizer serves today: BERT's
    WordPiece, DistilBERT (no segment ids), MPNet (<s> A </s></s> B </s>), Chinese."""
    import shutil

    from transformers import AutoTokenizer

    found = [("bert", AutoTokenizer.from_pretrained(str(minilm_path)), True)]
    for name, cls in (("distilbert", "DistilBertTokenizer"), ("mpnet", "MPNetTokenizer")):
        folder = tmp_path_factory.mktemp(name)
        shutil.copy(minilm_path / "vocab.txt", folder / "vocab.txt")
        (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": cls, "do_lower_case": True}))
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        assert len(tokenizer) > 30000 and type(tokenizer).__name__.startswith(cls), type(tokenizer)
        found.append((name, tokenizer, "token_type_ids" in tokenizer.model_input_names))
    chinese = chinese_vocab_dir()
    if chinese is not None:
        found.append(("chinese", AutoTokenizer.from_pretrained(str(chinese)), True))
    return found


def call_windows(tokenizer, items, is_pair, truncation, max_length, stride):
    """The tokenizer's own call, as the vectorizer used it before: windows and owners."""
    chunk = truncation == "chunk"
    if chunk and is_pair:
        items = list(zip(_first_text_heads(tokenizer, items, max_length, stride), [b for _, b in items]))
    args = ([a for a, _ in items], [b for _, b in items]) if is_pair else (items,)
    enc = tokenizer(
        *args, max_length=max_length, padding=False, return_token_type_ids=True,
        truncation="only_second" if chunk and is_pair else True,
        return_overflowing_tokens=chunk, stride=stride if chunk else 0,
    )
    owners = enc["overflow_to_sample_mapping"] if chunk else list(range(len(items)))
    return enc["input_ids"], enc["token_type_ids"], owners


@pytest.mark.parametrize("form, truncation, max_length, stride", SETTINGS)
def test_tokens_equal_the_tokenizers_own_call(families, form, truncation, max_length, stride):
    for name, tokenizer, token_types in families:
        items = PAIRS if form == "pairs" else TEXTS + emotion_tweets(300)
        is_pair = form == "pairs"
        before = tokenizer.backend_tokenizer.to_str()
        got = tokenize(tokenizer, items, is_pair, max_length, truncation, stride, token_types)
        if not (is_pair and truncation == "chunk"):  # cutting first texts uses the tokenizer's call
            assert tokenizer.backend_tokenizer.to_str() == before, f"{name}: the user's tokenizer was changed"
        ids, types, owners = call_windows(tokenizer, items, is_pair, truncation, max_length, stride)
        assert [got.window(i) for i in range(len(got))] == ids, name
        assert got.owners.tolist() == list(owners), name
        if got.type_ids is None:  # none taken, or all zero (the model's default)
            assert not token_types or all(t == 0 for row in types for t in row), name
        else:
            assert token_types, name
            flat = [t for row in types for t in row]
            assert got.type_ids.tolist() == flat, name


def test_every_family_takes_the_rust_path(families):
    """The speed claim rests on this: each family's copy agrees with its call on the probes."""
    for name, tokenizer, _ in families:
        for strategy, overflow, pairs in [("longest_first", False, False), ("longest_first", True, False),
                                          ("longest_first", False, True), ("only_second", True, True)]:
            assert backend_for(tokenizer, 32, 4 if overflow else 0, strategy, overflow, pairs) is not None, (name, strategy)


def test_the_tokenizers_call_is_the_fallback_with_the_same_tokens(families, monkeypatch):
    import bertfeat._batching as batching

    tokenizer = families[0][1]
    fast = tokenize(tokenizer, TEXTS, False, 16, "chunk", 4)
    monkeypatch.setattr(batching, "backend_for", lambda *a: None)
    slow = tokenize(tokenizer, TEXTS, False, 16, "chunk", 4)
    for a, b in [(fast.ids, slow.ids), (fast.offsets, slow.offsets), (fast.owners, slow.owners)]:
        np.testing.assert_array_equal(a, b)
    pairs_slow = tokenize(tokenizer, PAIRS, True, 24, "head", 0)
    monkeypatch.undo()
    pairs_fast = tokenize(tokenizer, PAIRS, True, 24, "head", 0)
    np.testing.assert_array_equal(pairs_fast.type_ids, pairs_slow.type_ids)


def test_collation_equals_the_tokenizers_padding(families):
    tokenizer = families[0][1]
    tokenized = tokenize(tokenizer, TEXTS[:8], False, 512, "head", 0)
    index = np.array([7, 0, 4, 1, 5])
    batch = collate(tokenized, index, tokenizer.pad_token_id)
    want = tokenizer([TEXTS[i] for i in index], padding=True, return_tensors="pt")
    for key in ("input_ids", "attention_mask"):
        torch.testing.assert_close(batch[key], want[key], rtol=0, atol=0)
    part = tokenized.take(index)  # the rows a fine-tuning split keeps
    lengths = want["attention_mask"].sum(1).tolist()
    assert [part.window(i) for i in range(len(index))] == [ids[:n] for ids, n in zip(want["input_ids"].tolist(), lengths)]


@pytest.mark.parametrize("pooling", ["mean", "cls", "max"])
def test_many_chunks_and_batches_equal_direct_forward(tiny_bert, monkeypatch, pooling):
    """Small chunks (so the prefetch thread runs) and small batches: order and vectors kept."""
    monkeypatch.setattr(encode, "STREAM_CHUNK", 8)
    texts = [t + f" number {i}" * (i % 5) for i, t in enumerate(TEXTS[:8] * 5)] + emotion_tweets(40)
    vec = BertVectorizer(model=str(tiny_bert), pooling=pooling, batch_size=4, progress=False).fit(texts)
    got = vec.transform(texts)
    np.testing.assert_allclose(got, reference_vectors(tiny_bert, texts, pooling=pooling), atol=1e-5)


def test_pairs_in_many_chunks_equal_direct_forward(tiny_bert, monkeypatch):
    monkeypatch.setattr(encode, "STREAM_CHUNK", 4)
    # Not ("only the first", ""): the tokenizer's one-pair call reads an empty second text as
    # no pair at all (its batch call, and so the vectorizer, keep the pair's [SEP]).
    pairs = [p for p in PAIRS if p[1]] * 3
    got = BertVectorizer(model=str(tiny_bert), batch_size=3, progress=False).fit(pairs).transform(pairs)
    np.testing.assert_allclose(got, reference_vectors(tiny_bert, pairs, pairs=True), atol=1e-5)


def test_chinese_tweets_and_long_texts_equal_direct_forward(tiny_chinese_bert, monkeypatch):
    monkeypatch.setattr(encode, "STREAM_CHUNK", 4)
    texts = ["这个酒店的服务很好，房间也很干净。", "", "位置偏僻，早餐难吃。" * 80, "中文 and English 混合"] * 3
    got = BertVectorizer(model=str(tiny_chinese_bert), progress=False).fit(texts).transform(texts)
    np.testing.assert_allclose(got, reference_vectors(tiny_chinese_bert, texts), atol=1e-5)


def prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "bertfeat-prefetch"]


def test_a_tokenizer_error_in_the_thread_reaches_the_caller(tiny_bert, monkeypatch):
    monkeypatch.setattr(encode, "STREAM_CHUNK", 4)
    real = encode.tokenize_chunk
    calls = []

    def failing(loaded, items, is_pair, opts):
        calls.append(len(items))
        if len(calls) == 3:
            raise ValueError("tokenizer broke on chunk 3")
        return real(loaded, items, is_pair, opts)

    monkeypatch.setattr(encode, "tokenize_chunk", failing)
    vec = BertVectorizer(model=str(tiny_bert), progress=False).fit(["x"])
    with pytest.raises(ValueError, match="chunk 3"):
        vec.transform([f"text {i}" for i in range(40)])
    assert prefetch_threads() == []


def test_leaving_the_stream_early_stops_the_thread(tiny_bert, monkeypatch):
    monkeypatch.setattr(encode, "STREAM_CHUNK", 4)
    vec = BertVectorizer(model=str(tiny_bert), progress=False).fit(["x"])
    stream = encode.encode_stream(vec._encoder(), [f"text {i}" for i in range(100)], False, vec._options)
    start, first = next(stream)
    assert start == 0 and len(first) == 1  # the first chunk is a quarter of the others
    stream.close()
    assert prefetch_threads() == []


def test_small_models_get_larger_cpu_batches_and_fewer_threads(tiny_bert, minilm_path, monkeypatch):
    tiny = BertVectorizer(model=str(tiny_bert), progress=False).fit(["x"])
    mini = BertVectorizer(model=str(minilm_path), progress=False).fit(["x"])
    assert (mini._options.batch_size, mini._options.token_budget) == (encode.CPU_BATCH_SIZE, encode.CPU_TOKEN_BUDGET)
    assert tiny._options.batch_size == encode.CPU_BATCH_SIZE * encode.MAX_CPU_SCALE
    threads = torch.get_num_threads()
    seen = []
    real = encode._forward
    monkeypatch.setattr(encode, "_forward", lambda *a: seen.append(torch.get_num_threads()) or real(*a))
    tiny.transform(TEXTS)
    mini.transform(TEXTS[:2])
    assert seen[0] == max(1, threads // 2) and seen[-1] == threads
    assert torch.get_num_threads() == threads

    def boom(*a):
        raise RuntimeError("boom")

    monkeypatch.setattr(encode, "_forward", boom)
    with pytest.raises(RuntimeError, match="boom"):
        tiny.transform(["another text"])
    assert torch.get_num_threads() == threads


def test_finetuned_predictions_through_the_path_equal_direct_forward(tiny_bert, monkeypatch, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    texts = [f"{w} day number {i}" for i, w in enumerate(["great", "awful", "quiet"] * 6)]
    labels = ["joy", "anger", "calm"] * 6
    clf = FineTuneClassifier(str(tiny_bert), max_epochs=1, batch_size=8, verbose=0, random_state=0).fit(texts, labels)
    clf.save_pretrained(tmp_path)
    monkeypatch.setattr(encode, "STREAM_CHUNK", 4)
    queries = TEXTS[:8] + texts
    got = clf.decision_function(queries)
    tokenizer = AutoTokenizer.from_pretrained(str(tmp_path))
    model = AutoModelForSequenceClassification.from_pretrained(str(tmp_path)).eval()
    with torch.no_grad():
        want = np.stack([model(**tokenizer(q, return_tensors="pt", truncation=True, max_length=128)).logits[0].numpy()
                         for q in queries])
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="needs CUDA")
def test_cuda_pipeline_matches_the_cpu_in_many_chunks(minilm_path, monkeypatch):
    """Pinned uploads, device collation and deferred results across many chunks."""
    monkeypatch.setattr(encode, "GPU_STREAM_CHUNK", 16)
    texts = [t + f" {i}" for i, t in enumerate(TEXTS[:8] * 12)]
    cpu = BertVectorizer(model=str(minilm_path), device="cpu", progress=False).fit(texts).transform(texts)
    for dtype, floor in (("float32", 0.99999), ("bfloat16", 0.999), ("float16", 0.999)):
        got = BertVectorizer(model=str(minilm_path), device="cuda", dtype=dtype, progress=False).fit(texts).transform(texts)
        cos = (got * cpu).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(cpu, axis=1)
        assert cos.min() >= floor, (dtype, cos.min())
