"""BertVectorizer(pair_mode="bi"): pairs from their two texts encoded alone.

The reference is a direct transformers forward pass of each text (tests/reference.py);
"encoded once" is counted with the encoder's own counters (``encoding_stats``).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from reference import reference_vectors

from bertfeat import BertVectorizer, encoding_stats
from bertfeat._encode import reset_encoding_stats

PAIRS = [
    ("the cat sat on the mat", "a dog ran in the park"),
    ("a dog ran in the park", "the cat sat on the mat"),
    ("it is raining again", "the cat sat on the mat"),
    ("it is raining again", "it is raining again"),
]
TEXTS = ["the cat sat on the mat", "a dog ran in the park", "it is raining again"]


def expected(folder, pairs, **options):
    vectors = dict(zip(TEXTS, reference_vectors(folder, TEXTS, **options)))
    rows = []
    for a, b in pairs:
        u, v = vectors[a], vectors[b]
        rows.append(np.concatenate([u, v, np.abs(u - v), u * v]))
    return np.stack(rows)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_bi_is_u_v_absdiff_prod_of_texts_encoded_alone(tiny_bert, pooling):
    vectorizer = BertVectorizer(str(tiny_bert), pair_mode="bi", pooling=pooling, device="cpu").fit(PAIRS)
    got = vectorizer.transform(PAIRS)
    assert got.shape == (4, 4 * 32) and vectorizer.n_features_out_ == 128 and got.dtype == np.float32
    np.testing.assert_allclose(got, expected(tiny_bert, PAIRS, pooling=pooling), atol=1e-5)


def test_bi_with_the_real_sentence_encoder(minilm_path):
    got = BertVectorizer(str(minilm_path), pair_mode="bi", device="cpu").fit_transform(PAIRS)
    np.testing.assert_allclose(got, expected(minilm_path, PAIRS), atol=1e-5)


def test_each_distinct_text_is_encoded_once_and_cached_per_text(tiny_bert, tmp_path):
    reset_encoding_stats()
    vectorizer = BertVectorizer(str(tiny_bert), pair_mode="bi", cache_dir=tmp_path, device="cpu").fit(PAIRS)
    vectorizer.transform(PAIRS)
    assert encoding_stats()["texts"] == len(TEXTS)  # 8 sides, 3 distinct texts
    vectorizer.transform(PAIRS)
    assert encoding_stats()["texts"] == len(TEXTS)  # all from the cache
    # texts seen before as single texts, with the same setup, come from the same entries
    singles = BertVectorizer(str(tiny_bert), cache_dir=tmp_path, device="cpu").fit(TEXTS)
    singles.transform(TEXTS)
    assert encoding_stats()["texts"] == len(TEXTS)
    fresh_pair = [("it is raining again", "a new sentence here")]
    vectorizer.transform(fresh_pair)
    assert encoding_stats()["texts"] == len(TEXTS) + 1


def test_feature_names_name_the_four_blocks(tiny_bert):
    names = BertVectorizer(str(tiny_bert), pair_mode="bi", device="cpu").fit(PAIRS).get_feature_names_out()
    assert len(names) == 128
    assert [names[0], names[31], names[32], names[64], names[96]] == [
        "bertvectorizer_u0", "bertvectorizer_u31", "bertvectorizer_v0", "bertvectorizer_absdiff0", "bertvectorizer_prod0"
    ]
    cross = BertVectorizer(str(tiny_bert), device="cpu").fit(PAIRS)
    assert list(cross.get_feature_names_out()[:2]) == ["bertvectorizer0", "bertvectorizer1"]
    assert cross.transform(PAIRS).shape == (4, 32)


def test_pair_mode_has_no_effect_on_texts(tiny_bert):
    bi = BertVectorizer(str(tiny_bert), pair_mode="bi", device="cpu").fit(TEXTS)
    cross = BertVectorizer(str(tiny_bert), device="cpu").fit(TEXTS)
    np.testing.assert_array_equal(bi.transform(TEXTS), cross.transform(TEXTS))
    assert list(bi.get_feature_names_out()) == list(cross.get_feature_names_out())


def test_bi_survives_pickling_and_set_output(tiny_bert):
    vectorizer = BertVectorizer(str(tiny_bert), pair_mode="bi", device="cpu").fit(PAIRS)
    back = pickle.loads(pickle.dumps(vectorizer))
    np.testing.assert_array_equal(back.transform(PAIRS), vectorizer.transform(PAIRS))
    frame = vectorizer.set_output(transform="pandas").transform(PAIRS)
    assert list(frame.columns[:1]) == ["bertvectorizer_u0"] and frame.shape == (4, 128)


def test_bad_pair_mode_is_named():
    with pytest.raises(ValueError, match="pair_mode"):
        BertVectorizer(pair_mode="joint").fit(PAIRS)
