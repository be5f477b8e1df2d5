"""Bad input, tried hard: arbitrary unicode, wrong types and shapes, parameters out of
range, broken model folders. Every case ends in finite float32 vectors in input order,
or in an error that names the problem and where it is (row, parameter, file).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bertfeat import BertVectorizer

TEXTS = ["good film", "bad film", "great acting", "awful plot"]
LABELS = [1, 0, 1, 0]


# -- model folders -------------------------------------------------------------------
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def copy_tokenizer(src: Path, dst: Path) -> Path:
    for name in TOKENIZER_FILES:
        shutil.copy(src / name, dst / name)
    return dst


def small_bert_config(tiny_bert: Path, **extra):
    from transformers import BertConfig

    cfg = json.loads((tiny_bert / "config.json").read_text())
    keys = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
    return BertConfig(**{k: cfg[k] for k in keys}, **extra)


@pytest.fixture(scope="module")
def folders(tmp_path_factory, tiny_bert):
    """Broken or foreign model folders, built once."""
    import torch
    from transformers import (
        BertForMaskedLM,
        BertModel,
        DistilBertConfig,
        DistilBertModel,
        GPT2Config,
        GPT2Model,
        T5Config,
        T5Model,
    )

    base = tmp_path_factory.mktemp("folders")
    made = {}

    def copy(name, drop=()):
        folder = base / name
        shutil.copytree(tiny_bert, folder)
        for f in drop:
            (folder / f).unlink()
        made[name] = folder
        return folder

    (base / "empty").mkdir()
    made["empty"] = base / "empty"
    copy("no-weights", drop=["model.safetensors"])
    copy("no-config", drop=["config.json"])
    # every tokenizer file the installed transformers wrote (vocab.txt too, in 4.x)
    copy("no-tokenizer", drop=[p.name for p in tiny_bert.iterdir() if p.name not in ("config.json", "model.safetensors")])
    folder = copy("truncated-weights")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    folder = copy("garbage-weights")
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    folder = copy("truncated-config")
    (folder / "config.json").write_text((folder / "config.json").read_text()[:40])
    folder = copy("truncated-tokenizer")
    (folder / "tokenizer.json").write_text((folder / "tokenizer.json").read_text()[:1000])
    folder = copy("index-without-shard")
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    weight_map = {"embeddings.word_embeddings.weight": "model-00002-of-00002.safetensors"}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))

    torch.manual_seed(0)
    for name, model in {
        "gpt2": GPT2Model(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=100, n_positions=64)),
        "t5": T5Model(T5Config(num_layers=1, d_model=16, d_ff=16, num_heads=2, d_kv=8, vocab_size=100)),
        "bert-config-distilbert-weights": DistilBertModel(
            DistilBertConfig(
                vocab_size=small_bert_config(tiny_bert).vocab_size, dim=32, n_layers=1, n_heads=2, hidden_dim=37
            )
        ),
        "bert-without-pooler": BertModel(small_bert_config(tiny_bert), add_pooling_layer=False),
        "bert-masked-lm-checkpoint": BertForMaskedLM(small_bert_config(tiny_bert)),
        "bert-wider-config": BertModel(small_bert_config(tiny_bert)),
    }.items():
        folder = base / name
        model.save_pretrained(str(folder))
        copy_tokenizer(tiny_bert, folder)
        made[name] = folder
    shutil.copy(tiny_bert / "config.json", made["bert-config-distilbert-weights"] / "config.json")
    wider = json.loads((made["bert-wider-config"] / "config.json").read_text())
    wider["intermediate_size"] = 64
    (made["bert-wider-config"] / "config.json").write_text(json.dumps(wider))
    made["missing"] = base / "does-not-exist"
    return made


@pytest.mark.parametrize(
    "name, error, message",
    [
        ("missing", FileNotFoundError, r"does-not-exist' does not exist"),
        ("empty", FileNotFoundError, r"is empty \(expected config.json, weights, tokenizer\)"),
        ("no-weights", FileNotFoundError, r"is missing: weights \(model.safetensors or pytorch_model.bin\)"),
        ("no-config", FileNotFoundError, r"is missing: config.json"),
        ("no-tokenizer", FileNotFoundError, r"is missing: tokenizer files"),
        ("truncated-config", ValueError, r"cannot read .*config.json"),
        ("truncated-tokenizer", ValueError, r"cannot load the tokenizer in"),
        ("index-without-shard", ValueError, r"index.json lists model-00002-of-00002.safetensors, which is absent"),
        ("truncated-weights", ValueError, r"model.safetensors is \d+ bytes but its header describes \d+: truncated"),
        ("garbage-weights", ValueError, r"model.safetensors has a damaged header \(not a safetensors file\?\)"),
        ("gpt2", ValueError, r"holds a 'gpt2' model; bertfeat needs an encoder-only model"),
        ("t5", ValueError, r"holds a 't5' model, which is not an encoder-only model"),
        (
            "bert-config-distilbert-weights",
            ValueError,
            (
                r"do not match its config.json \(a 'bert' model\): \d+ weights are missing .*other weights instead "
                r"\(e.g. transformer.layer"
            ),
        ),
        (
            "bert-wider-config",
            ValueError,
            (
                r"6 weights have other shapes than config.json says \(e.g. encoder.layer.0.intermediate.dense.bias is "
                r"\(37,\) in the files, \(64,\) by the config\)"
            ),
        ),
    ],
)
def test_broken_or_foreign_model_folder_is_a_clear_error(folders, name, error, message):
    with pytest.raises(error, match=message):
        BertVectorizer(model=str(folders[name])).fit(TEXTS)


@pytest.mark.parametrize("name", ["bert-without-pooler", "bert-masked-lm-checkpoint"])
def test_checkpoint_without_pooler_weights_never_uses_a_random_pooler(folders, name):
    """transformers fills absent weights with random ones; before the fix pooling='pooler'
    gave different vectors at every load of the same files (same fingerprint, same cache key)."""
    from bertfeat import free_models

    with pytest.raises(ValueError, match=r"pooling='pooler' but the 'bert' model .* has no pooler"):
        BertVectorizer(model=str(folders[name]), pooling="pooler").fit(TEXTS)
    runs = []
    for _ in range(2):
        free_models()
        runs.append(BertVectorizer(model=str(folders[name]), pooling="cls").fit(TEXTS).transform(TEXTS))
    np.testing.assert_array_equal(runs[0], runs[1])


# -- arbitrary unicode: property-based ----------------------------------------------
# Example counts (recorded in docs/reliability.md): kept modest so this file runs in
# about a minute on two CPU cores.
N_TEXT_LISTS = 100
N_PAIR_LISTS = 60
N_SURROGATE_LISTS = 100
N_WHITESPACE_LISTS = 50
N_X_TYPE_LISTS = 300
N_PAIR_TYPE_LISTS = 300


SPECIAL = [
    "\U0001f600",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\U0001f1eb\U0001f1f7",  # emoji, ZWJ family, flag
    "e\u0301",
    "\u0300\u0301\u0302\u0303",
    "\u0d15\u0d4d\u0d37",  # combining marks
    "\u05e9\u05dc\u05d5\u05dd",
    "\u0645\u0631\u062d\u0628\u0627",
    "\u202e",
    "\u202d",
    "\u2067",  # RTL text, overrides
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",  # zero-width
    "\x00",
    "\x01",
    "\x07",
    "\x1b[31m",
    "\x7f",
    "\x85",
    "\r\n",
    "\t",
    "\x0b",
    "\x0c",  # control characters
    "\u00a0",
    "\u3000",
    "\u2028",
    "\u2029",  # unicode spaces and separators
    "\ufffd",
    "\U000e0041",
    "\U0010fffd",
    "\uffff",  # replacement, tags, private use, noncharacter
    "\u4e2d\u6587",
    "\u3053\u3093\u306b\u3061\u306f",
    "\ud55c\uad6d\uc5b4",  # CJK
    "[CLS]",
    "[SEP]",
    "[PAD]",
    "[MASK]",
    "<s>",
    "</s>",
    "##ing",  # special-token look-alikes
]
# Any code point but surrogates (category Cs), mixed with the hard cases above.
valid_char = st.characters(exclude_categories=("Cs",))
piece = st.one_of(st.text(valid_char, max_size=12), st.sampled_from(SPECIAL), st.just(" "))
texts = st.lists(piece, max_size=30).map("".join)
WHITESPACE = (
    " \t\n\r\x0b\x0c\u00a0\u1680\u2000\u2001\u2002\u2003\u2009\u200a\u2028\u2029\u202f\u205f\u3000\x1c\x1d\x1e\x1f\x85"
)


@pytest.fixture(scope="module")
def tiny_vec(tiny_bert):
    return BertVectorizer(model=str(tiny_bert), progress=False).fit(["x"])


@pytest.fixture(scope="module")
def tiny_pair_vec(tiny_bert):
    return BertVectorizer(model=str(tiny_bert), truncation="chunk", max_length=24, stride=4, progress=False).fit(
        [("a", "b")]
    )


def assert_vectors(out, n, dim=32):
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (n, dim)
    assert np.isfinite(out).all()


def assert_in_order(vec, items, out, rows):
    """Each sampled row equals the vector of its item encoded alone (another batch)."""
    for i in rows:
        np.testing.assert_allclose(out[i], vec.transform([items[i]])[0], atol=2e-5, rtol=0)


@settings(max_examples=N_TEXT_LISTS, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(texts, min_size=1, max_size=12), data=st.data())
def test_any_unicode_text_gives_finite_vectors_in_order(tiny_vec, items, data):
    out = tiny_vec.transform(items)
    assert_vectors(out, len(items))
    rows = data.draw(st.lists(st.integers(0, len(items) - 1), min_size=1, max_size=3, unique=True))
    assert_in_order(tiny_vec, items, out, rows)


@settings(max_examples=N_PAIR_LISTS, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=st.lists(
        st.tuples(st.lists(texts, max_size=4).map(" ".join), st.lists(texts, max_size=4).map(" ".join)),
        min_size=1,
        max_size=8,
    ),
    data=st.data(),
)
def test_any_unicode_pairs_windowed_give_finite_vectors_in_order(tiny_pair_vec, items, data):
    # Small windows (24 tokens) so that long first and second texts are common.
    out = tiny_pair_vec.transform(items)
    assert_vectors(out, len(items))
    rows = data.draw(st.lists(st.integers(0, len(items) - 1), min_size=1, max_size=2, unique=True))
    assert_in_order(tiny_pair_vec, items, out, rows)


@settings(max_examples=N_WHITESPACE_LISTS, deadline=None)
@given(items=st.lists(st.text(st.sampled_from(WHITESPACE), max_size=50), min_size=1, max_size=10))
def test_whitespace_only_and_empty_texts_give_finite_vectors(tiny_vec, items):
    out = tiny_vec.transform(items)
    assert_vectors(out, len(items))
    # Nothing but spaces tokenizes to [CLS] [SEP]: the same vector as the empty text.
    np.testing.assert_allclose(out, np.repeat(tiny_vec.transform([""]), len(items), axis=0), atol=2e-5)


@settings(max_examples=N_SURROGATE_LISTS, deadline=None)
@given(
    items=st.lists(texts, min_size=1, max_size=8),
    data=st.data(),
    surrogate=st.integers(0xD800, 0xDFFF).map(chr),
)
def test_lone_surrogate_is_a_clear_error_naming_the_first_bad_row(tiny_vec, items, data, surrogate):
    bad_rows = sorted(data.draw(st.lists(st.integers(0, len(items) - 1), min_size=1, max_size=3, unique=True)))
    for row in bad_rows:
        at = data.draw(st.integers(0, len(items[row])))
        items[row] = items[row][:at] + surrogate + items[row][at:]
    with pytest.raises(ValueError, match=rf"^X row {bad_rows[0]}: character \d+ is a lone surrogate"):
        tiny_vec.transform(items)


# -- wrong types: property-based over check_texts (no model needed) ----------------
not_text = st.one_of(
    st.none(),
    st.floats(),
    st.integers(),
    st.binary(max_size=5),
    st.booleans(),
    st.lists(st.text(max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


@settings(max_examples=N_X_TYPE_LISTS, deadline=None)
@given(
    rows=st.lists(st.one_of(st.text(valid_char, max_size=5), not_text), max_size=10),
    first=st.text(valid_char, max_size=5),
)
def test_first_non_text_row_is_named(rows, first):
    from bertfeat._inputs import check_texts

    X = [first] + rows
    bad = next((i for i, v in enumerate(X) if not isinstance(v, str)), None)
    if bad is None:
        assert check_texts(X).items == X
        return
    with pytest.raises((TypeError, ValueError), match=rf"^X row {bad}: expected a string"):
        check_texts(X)


def is_good_pair(row) -> bool:
    return isinstance(row, (tuple, list)) and len(row) == 2 and all(isinstance(v, str) for v in row)


@settings(max_examples=N_PAIR_TYPE_LISTS, deadline=None)
@given(
    rows=st.lists(
        st.one_of(
            st.tuples(st.text(max_size=3), st.text(max_size=3)),
            st.lists(st.one_of(st.text(valid_char, max_size=3), not_text), min_size=0, max_size=3),
            st.tuples(st.text(valid_char, max_size=3), not_text),
            st.text(valid_char, max_size=3),
            not_text,
        ),
        max_size=8,
    ),
)
def test_first_bad_pair_row_is_named(rows):
    from bertfeat._inputs import check_texts

    X = [("first", "pair")] + rows
    bad = next((i for i, v in enumerate(X) if not is_good_pair(v)), None)
    if bad is None:
        assert check_texts(X).items == [tuple(r) for r in X]
        return
    with pytest.raises((TypeError, ValueError), match=rf"^X(\[:, [01]\])? row {bad}: expected"):
        check_texts(X)


# -- named extremes -----------------------------------------------------------------------
MEGABYTE = 1 << 20


@pytest.mark.parametrize(
    "name, text",
    [
        ("words", "word " * (MEGABYTE // 5)),
        ("one-long-word", "x" * MEGABYTE),
        ("emoji", "\U0001f600" * (MEGABYTE // 4)),
        ("cjk", "\u4e2d" * (MEGABYTE // 3)),
        ("zero-width", "\u200b" * (MEGABYTE // 3)),
        ("combining", "a" + "\u0301" * (MEGABYTE // 2)),
        ("controls-and-newlines", "\x00\x01\n\t" * (MEGABYTE // 4)),
    ],
)
@pytest.mark.parametrize("truncation", ["head", "chunk"])
def test_one_megabyte_texts(tiny_bert, name, text, truncation):
    vec = BertVectorizer(model=str(tiny_bert), truncation=truncation, progress=False).fit(["x"])
    out = vec.transform(["short", text, ""])
    assert_vectors(out, 3)
    np.testing.assert_allclose(out[0], vec.transform(["short"])[0], atol=2e-5)


@pytest.mark.slow  # the longest default test (issue 16); input order is also checked by the hypothesis tests above
def test_hundred_thousand_short_texts_in_input_order(tiny_bert):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    n = 100_000
    words = np.array(["cat", "dog", "film", "good", "bad", "\U0001f600", "caf\u00e9", "\u4e2d\u6587", ""])
    items = [f"{i} " + " ".join(rng.choice(words, size=rng.integers(0, 5))) for i in range(n)]
    index = rng.permutation(n)
    series = pd.Series(items, index=index)  # a shuffled index must not reorder rows
    vec = BertVectorizer(model=str(tiny_bert), progress=False).fit(series)
    out = vec.transform(series)
    assert_vectors(out, n)
    sample = rng.choice(n, size=25, replace=False)
    np.testing.assert_allclose(out[sample], vec.transform([items[i] for i in sample]), atol=2e-5)
    for i in sample[:5]:
        np.testing.assert_allclose(out[i], vec.transform([items[i]])[0], atol=2e-5)


# -- wrong types and shapes, through the estimator and a pipeline -------------------------
BAD_X = {
    "None": (None, TypeError, r"X is None"),
    "NaN row": (["ok", float("nan"), "ok"], TypeError, r"X row 1: expected a string, got NaN .*missing values"),
    "None row": (["ok", "ok", None], TypeError, r"X row 2: expected a string, got None"),
    "numbers": ([1.5, 2.5], TypeError, r"X row 0: expected a string, got float 1.5"),
    "numeric array": (np.arange(3), TypeError, r"X row 0: expected a string, got int 0"),
    "bytes": (["ok", b"caf\xc3\xa9"], TypeError, r"X row 1: expected a string, got bytes .*decode"),
    "nested lists": ([["a", ["b"]], ["c", "d"]], TypeError, r"X\[:, 1\] row 0: expected a string, got list"),
    "3-column frame": ("frame3", ValueError, r"X has 3 columns; expected 1 column \(texts\) or 2 columns"),
    "ragged pairs": (
        [("a", "b"), ("c", "d"), ("e",)],
        ValueError,
        r"X row 2: expected a pair of 2 texts, got 1 values",
    ),
    "pair then text": ([("a", "b"), "c"], TypeError, r"X row 1: expected a pair \(a, b\) like row 0, got str"),
    "dict": ({"text": ["a", "b"]}, TypeError, r"X is a dict"),
    "single string": ("just one", TypeError, r"single str; wrap it in a list"),
    "3-D array": (np.zeros((2, 2, 2), dtype=object), ValueError, r"got shape \(2, 2, 2\)"),
    "lone surrogate": (["ok", "bad\udc80"], ValueError, r"X row 1: character 3 is a lone surrogate"),
}


def bad_x(key):
    X, error, message = BAD_X[key]
    if isinstance(X, str) and X == "frame3":
        pd = pytest.importorskip("pandas")
        X = pd.DataFrame({"a": ["x", "y"], "b": ["x", "y"], "c": ["x", "y"]})
    return X, error, message


def make_pipeline_(tiny_bert):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(BertVectorizer(model=str(tiny_bert), progress=False), LogisticRegression())


@pytest.mark.parametrize("key", list(BAD_X))
@pytest.mark.parametrize("where", ["vectorizer.fit", "vectorizer.transform", "pipeline.fit", "pipeline.predict"])
def test_bad_x_is_named_everywhere(tiny_bert, key, where):
    X, error, message = bad_x(key)
    est = (
        BertVectorizer(model=str(tiny_bert), progress=False)
        if where.startswith("vectorizer")
        else make_pipeline_(tiny_bert)
    )
    if where.endswith("fit"):
        call = (lambda: est.fit(X)) if where.startswith("vectorizer") else (lambda: est.fit(X, [0, 1, 0][: _len(X)]))
    else:
        est.fit(TEXTS, LABELS)
        call = (lambda: est.transform(X)) if where.startswith("vectorizer") else (lambda: est.predict(X))
    with pytest.raises(error, match=message):
        call()


def _len(X):
    try:
        return len(X)
    except TypeError:
        return 3


@pytest.mark.parametrize(
    "y, message",
    [
        ([1, 0, 1], r"X has 4 rows but y has 3"),
        ([1, 0, None, 1], r"y row 2: missing target \(None\)"),
        ([1.0, 0.0, 1.0, float("nan")], r"y row 3: missing target \(NaN\)"),
        (["pos", "neg", float("nan"), "pos"], r"y row 2: missing target"),
        ([[1], [0, 1], 1, 0], r"y row 1: 2 targets, but row 0 has 1 target"),
        ("abcd", r"y must hold one target per row of X"),
    ],
)
def test_bad_y_in_a_pipeline_names_the_row(tiny_bert, y, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make_pipeline_(tiny_bert).fit(TEXTS, y)


def test_single_class_and_unseen_labels(tiny_bert):
    """One class: the head refuses it, saying so. Labels never seen at fit, given to score:
    not an error, they count as wrong predictions (scikit-learn's rule)."""
    with pytest.raises(ValueError, match=r"only one class"):
        make_pipeline_(tiny_bert).fit(TEXTS, [1, 1, 1, 1])
    pipe = make_pipeline_(tiny_bert).fit(TEXTS, LABELS)
    assert set(pipe.predict(TEXTS)) <= {0, 1}
    assert pipe.score(TEXTS, [7, 7, 7, 7]) == 0.0


# -- parameters out of range (test_contract.py has the first cases) ------------------------
def rejected(name, value, expected, *allowed):
    """scikit-learn's InvalidParameterError text: the parameter, what it must be (each of
    ``allowed`` listed, in any order) and the value given."""
    listed = "".join(f"(?=.*{a!r})" for a in allowed)
    return rf"(?s)^{listed}The '{name}' parameter of BertVectorizer must be {expected}\. Got {value!r} instead"


@pytest.mark.parametrize(
    "params, error, message",
    [
        (
            {"layers": -4},
            ValueError,
            r"layers holds -4, but the model has 2 layers: valid indices are 0 .* to 2 .*-3 to -1",
        ),
        ({"layers": [0, 3]}, ValueError, r"layers holds 3, but the model has 2 layers"),
        ({"layers": []}, ValueError, r"layers is an empty list"),
        ({"layers": "first"}, ValueError, rejected("layers", "first", r"a str among \{'last'\}, an instance of 'int' or an array-like")),
        ({"layers": [1.5]}, TypeError, r"layers holds 1.5; layer indices must be integers"),
        ({"layers": [True]}, TypeError, r"layers holds True"),
        ({"pooling": "pooler", "layers": [-2]}, ValueError, r"pooling='pooler' uses the last layer only"),
        ({"pooling": None}, ValueError, rejected("pooling", None, r"a str among \{.*\}", "cls", "mean", "max", "pooler")),
        ({"layer_agg": "sum"}, ValueError, rejected("layer_agg", "sum", r"a str among \{.*\}", "mean", "concat")),
        ({"max_length": 0}, ValueError, rejected("max_length", 0, r"an int in the range \[1, inf\) or None")),
        ({"max_length": 2}, ValueError, r"max_length=2 leaves no room for text next to 2 special tokens"),
        ({"max_length": 64.0}, ValueError, rejected("max_length", 64.0, r"an int in the range \[1, inf\) or None")),
        ({"max_length": True}, ValueError, rejected("max_length", True, "an integer, not a bool")),
        ({"stride": -1}, ValueError, rejected("stride", -1, r"an int in the range \[0, inf\)")),
        (
            {"truncation": "chunk", "max_length": 16, "stride": 14},
            ValueError,
            r"stride=14 must be smaller than .*\(14\)",
        ),
        ({"truncation": "chunk", "max_length": 16, "stride": 16}, ValueError, r"stride=16 must be smaller"),
        ({"batch_size": -3}, ValueError, rejected("batch_size", -3, r"an int in the range \[1, inf\) or a str among \{'auto'\}")),
        ({"batch_size": 2.5}, ValueError, rejected("batch_size", 2.5, r"an int in the range \[1, inf\) or .*'auto'.*")),
        ({"token_budget": 0}, ValueError, rejected("token_budget", 0, r"an int in the range \[1, inf\) or .*'auto'.*")),
        ({"token_budget": "big"}, ValueError, rejected("token_budget", "big", r"an int in the range \[1, inf\) or .*'auto'.*")),
        ({"device": "cuda:0"}, ValueError, r"device='cuda:0' was asked for but CUDA is not available here"),
        ({"device": "gpu"}, ValueError, r"device='gpu' is not one of \('auto', 'cpu', 'cuda', 'mps'\)"),
        ({"device": 0}, TypeError, rejected("device", 0, "an instance of 'str'")),
        # numpy 1.x names its bool type numpy.bool_, numpy 2 numpy.bool
        ({"normalize": "yes"}, ValueError, rejected("normalize", "yes", "an instance of 'bool' or an instance of 'numpy.bool_?'")),
        ({"progress": "sometimes"}, ValueError, rejected("progress", "sometimes", r"an instance of 'bool' .* or a str among \{'auto'\}")),
        ({"cache_dir": 123}, TypeError, rejected("cache_dir", 123, "an instance of 'str', an instance of 'os.PathLike' or None")),
        ({"model": 123}, TypeError, rejected("model", 123, "an instance of 'str', an instance of 'os.PathLike' or None")),
    ],
)
def test_more_bad_parameters_fail_at_fit_naming_the_parameter(tiny_bert, params, error, message):
    import torch

    if params.get("device") == "cuda:0" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    params = {"model": str(tiny_bert), **params}
    est = BertVectorizer(**params)
    with pytest.raises(error, match=message):
        est.fit(TEXTS)


def test_stride_just_under_the_window_is_accepted(tiny_bert):
    vec = BertVectorizer(model=str(tiny_bert), truncation="chunk", max_length=16, stride=13).fit(TEXTS)
    assert_vectors(vec.transform(["word " * 100]), 1)
