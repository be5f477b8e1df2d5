"""``BertVectorizer(pooling="tokens")``: the first ``max_length`` token states, zero-padded
and flattened, against a direct transformers forward pass padded by hand."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from bertfeat import BertVectorizer
from bertfeat import _encode as encode
from reference import reference_token_states

TEXTS = [
    "i feel great today",
    "",
    "A much longer sentence, with punctuation; numbers like 3.14 and 42, and CAPITAL letters that run past the window!",
    "short",
    "emoji 😀 and accents: café naïve",
]
PAIRS = [
    ("The cat sat on the mat.", "A cat was sitting on a mat."),
    ("He bought the company in 1998 and sold it again much later.", "The firm was sold to him last week."),
    ("", "only the second text"),
]


@pytest.mark.parametrize("layers,layer_agg", [("last", "mean"), ([0, -1], "mean"), ([0, -2, -1], "concat")])
def test_token_states_equal_direct_forward_pass_padded_by_hand(tiny_bert, layers, layer_agg):
    vec = BertVectorizer(model=str(tiny_bert), pooling="tokens", max_length=12, layers=layers, layer_agg=layer_agg,
                         batch_size=8).fit(TEXTS)
    got = vec.transform(TEXTS)
    want = reference_token_states(tiny_bert, TEXTS, 12, layers=None if layers == "last" else layers, layer_agg=layer_agg)
    per_token = 32 * (3 if layer_agg == "concat" else 1)
    assert got.dtype == np.float32 and got.shape == (len(TEXTS), 12 * per_token) == (len(TEXTS), vec.n_features_out_)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    # the short texts really are zero-padded, the long one is not
    rows = got.reshape(len(TEXTS), 12, per_token)
    assert not rows[3, 3:].any() and rows[3, :3].any()  # [CLS] short [SEP]
    assert rows[2].any(axis=1).all()


def test_pairs_equal_tokenizer_pair_encoding_padded_by_hand(tiny_bert):
    vec = BertVectorizer(model=str(tiny_bert), pooling="tokens", max_length=16).fit(PAIRS)
    np.testing.assert_allclose(vec.transform(PAIRS), reference_token_states(tiny_bert, PAIRS, 16, pairs=True), atol=1e-5)


def test_row_does_not_depend_on_its_batch(tiny_bert):
    together = BertVectorizer(model=str(tiny_bert), pooling="tokens", max_length=10, batch_size=8).fit(TEXTS)
    alone = BertVectorizer(model=str(tiny_bert), pooling="tokens", max_length=10, batch_size=1).fit(TEXTS)
    np.testing.assert_allclose(together.transform(TEXTS), alone.transform(TEXTS), atol=1e-5)


def test_feature_names_say_position_and_dimension(tiny_bert):
    vec = BertVectorizer(model=str(tiny_bert), pooling="tokens", max_length=4, layers=[1, 2], layer_agg="concat").fit(TEXTS)
    names = vec.get_feature_names_out()
    assert len(names) == vec.n_features_out_ == 4 * 64
    assert list(names[:2]) == ["bertvectorizer_t0_d0", "bertvectorizer_t0_d1"]
    assert names[64] == "bertvectorizer_t1_d0" and names[-1] == "bertvectorizer_t3_d63"
    frame = vec.set_output(transform="pandas").transform(TEXTS[:2])
    assert list(frame.columns) == list(names)
    # the other poolings keep scikit-learn's numbered names
    mean = BertVectorizer(model=str(tiny_bert), max_length=4).fit(TEXTS)
    assert list(mean.get_feature_names_out()[:2]) == ["bertvectorizer0", "bertvectorizer1"]


def test_normalize_scales_the_whole_row(tiny_bert):
    plain = BertVectorizer(model=str(tiny_bert), pooling="tokens", max_length=8).fit(TEXTS).transform(TEXTS)
    unit = BertVectorizer(model=str(tiny_bert), pooling="tokens", max_length=8, normalize=True).fit(TEXTS).transform(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(unit, plain / np.linalg.norm(plain, axis=1, keepdims=True), atol=1e-6)


def test_cache_round_trip_without_the_model(tiny_bert, tmp_path, monkeypatch):
    calls = []
    real = encode._forward
    monkeypatch.setattr(encode, "_forward", lambda loaded, arrays, opts: calls.append(1) or real(loaded, arrays, opts))
    # the same max_length under another pooling is another setup: no hits across
    BertVectorizer(model=str(tiny_bert), max_length=8, cache_dir=tmp_path).fit(TEXTS).transform(TEXTS)
    cold = BertVectorizer(model=str(tiny_bert), pooling="tokens", max_length=8, cache_dir=tmp_path).fit(TEXTS)
    first = cold.transform(TEXTS)
    assert cold.cache_info()["hits"] == 0 and calls
    calls.clear()
    warm = BertVectorizer(model=str(tiny_bert), pooling="tokens", max_length=8, cache_dir=tmp_path).fit(TEXTS)
    second = warm.transform(TEXTS[::-1])
    assert calls == [] and warm.cache_info()["hits"] == len(TEXTS)
    np.testing.assert_array_equal(second[::-1], first)
    np.testing.assert_allclose(first, reference_token_states(tiny_bert, TEXTS, 8), atol=1e-5)
    # another max_length is another setup
    other = BertVectorizer(model=str(tiny_bert), pooling="tokens", max_length=6, cache_dir=tmp_path).fit(TEXTS)
    assert other.transform(TEXTS).shape == (len(TEXTS), 6 * 32) and other.cache_info()["hits"] == 0


def test_pickle_keeps_the_setup(tiny_bert):
    vec = BertVectorizer(model=str(tiny_bert), pooling="tokens", max_length=8).fit(TEXTS)
    back = pickle.loads(pickle.dumps(vec))
    np.testing.assert_array_equal(back.transform(TEXTS), vec.transform(TEXTS))
    assert list(back.get_feature_names_out()) == list(vec.get_feature_names_out())


def test_max_length_is_required(tiny_bert):
    with pytest.raises(ValueError, match="pooling='tokens' needs max_length"):
        BertVectorizer(model=str(tiny_bert), pooling="tokens").fit(TEXTS)


def test_chunk_truncation_is_refused(tiny_bert):
    with pytest.raises(ValueError, match="truncation='chunk'.*truncation='head'"):
        BertVectorizer(model=str(tiny_bert), pooling="tokens", max_length=8, truncation="chunk").fit(TEXTS)


def test_max_length_beyond_the_model_is_refused(tiny_bert):
    with pytest.raises(ValueError, match="more than the model's maximum"):
        BertVectorizer(model=str(tiny_bert), pooling="tokens", max_length=10_000).fit(TEXTS)
