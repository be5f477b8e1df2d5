"""A fitted vectorizer answers cached texts without loading the model (issue 16, point 5).

The fingerprint check stays: it reads the model files, not the model.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from bertfeat import BertVectorizer, encoding_stats

TEXTS = ["a first text", "the second one", "and a third, longer text about trains"]


def test_cached_texts_after_unpickling_load_no_model(tiny_bert, tmp_path):
    fitted = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path / "cache").fit(TEXTS)
    want = fitted.transform(TEXTS)
    restored = pickle.loads(pickle.dumps(fitted))
    before = encoding_stats()["texts"]
    np.testing.assert_array_equal(restored.transform(TEXTS), want)
    assert getattr(restored, "_loaded", None) is None  # every text came from the cache: no weights loaded
    assert encoding_stats()["texts"] == before
    # A miss loads the model on first need, and the vectors match a direct fit.
    new = ["a text never seen"]
    np.testing.assert_allclose(restored.transform(new), BertVectorizer(model=str(tiny_bert)).fit(new).transform(new), atol=1e-6)
    assert restored._loaded is not None


def test_a_changed_model_is_still_caught_when_every_text_is_cached(tiny_bert, tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_bert, model)
    fitted = BertVectorizer(model=str(model), cache_dir=tmp_path / "cache").fit(TEXTS)
    fitted.transform(TEXTS)
    restored = pickle.loads(pickle.dumps(fitted))
    with open(model / "config.json", "a") as handle:
        handle.write("\n")  # any change to the files changes the fingerprint
    with pytest.raises(ValueError, match="changed since this BertVectorizer was fitted"):
        restored.transform(TEXTS)
