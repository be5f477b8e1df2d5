"""Pickles as deployments use them: fresh processes, moved or changed model folders."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from bertfeat import BertVectorizer

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["i love this", "what a great day", "so happy", "this is awful", "i hate it", "terrible news"]
LABELS = [1, 1, 1, 0, 0, 0]

PREDICT = textwrap.dedent(
    """
    import sys, joblib, numpy as np
    pipe = joblib.load(sys.argv[1])
    texts = ["i love this", "terrible news", "an unseen sentence"]
    np.save(sys.argv[2], pipe.predict_proba(texts))
    """
)


def run_fresh(model_file, out_file, env_extra=None):
    import torch

    # The parent's thread count: float sums split over other thread counts round differently.
    threads = str(torch.get_num_threads())
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=threads, CUDA_VISIBLE_DEVICES="")
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-c", PREDICT, str(model_file), str(out_file)], env=env, capture_output=True, text=True, timeout=300
    )


def test_pipeline_pickle_predicts_the_same_in_a_fresh_process(minilm_path, tmp_path):
    pipe = make_pipeline(BertVectorizer(model=str(minilm_path)), LogisticRegression(max_iter=1000)).fit(TEXTS, LABELS)
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    assert (tmp_path / "pipe.joblib").stat().st_size < 1_000_000, "weights must not be in the pickle by default"
    result = run_fresh(tmp_path / "pipe.joblib", tmp_path / "p.npy")
    assert result.returncode == 0, result.stderr
    want = pipe.predict_proba(["i love this", "terrible news", "an unseen sentence"])
    # Within float noise, not bit-equal: MKL may split work differently under load.
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), want, rtol=0, atol=1e-6)


def test_store_weights_pickle_works_without_the_model_folder(tiny_bert, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_bert, folder)
    pipe = make_pipeline(BertVectorizer(model=str(folder), store_weights=True), LogisticRegression()).fit(TEXTS, LABELS)
    want = pipe.predict_proba(["i love this", "terrible news", "an unseen sentence"])
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    shutil.rmtree(folder)
    result = run_fresh(tmp_path / "pipe.joblib", tmp_path / "p.npy", {"BERTFEAT_HOME": str(tmp_path / "home")})
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), want)


def test_changed_model_folder_is_a_clear_error_not_a_wrong_prediction(tiny_bert, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_bert, folder)
    pipe = make_pipeline(BertVectorizer(model=str(folder), cache_dir=tmp_path / "cache"), LogisticRegression()).fit(TEXTS, LABELS)
    blob = pickle.dumps(pipe)
    config = (folder / "config.json").read_text().replace('"hidden_dropout_prob": 0.1', '"hidden_dropout_prob": 0.2')
    (folder / "config.json").write_text(config)
    loaded = pickle.loads(blob)
    # Even though every text is in the cache, the changed model must be noticed.
    with pytest.raises(ValueError, match=r"model files at .*model' changed since .*fingerprint"):
        loaded.predict(TEXTS)
    shutil.rmtree(folder)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        pickle.loads(blob).predict(TEXTS)


@pytest.mark.gpu
@pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="needs CUDA")
def test_fitted_on_cuda_unpickles_on_cpu(minilm_path, tmp_path):
    pipe = make_pipeline(BertVectorizer(model=str(minilm_path), device="auto"), LogisticRegression()).fit(TEXTS, LABELS)
    assert pipe[0]._loaded.device.type == "cuda"
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    result = run_fresh(tmp_path / "pipe.joblib", tmp_path / "p.npy")
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "p.npy").shape == (3, 2)


@pytest.mark.parametrize("how", ["pickle", "persist"])
def test_restored_model_files_never_outlive_a_change_of_model(tiny_bert, minilm_path, tmp_path, monkeypatch, how):
    """A store_weights vectorizer reads its model from files restored out of the pickle (or
    the saved folder); set_params(model=other).fit() must load ``other``. Before the fix the
    restored folder survived the refit and the old model was used, silently."""
    from reference import reference_vectors

    from bertfeat import persist

    monkeypatch.setenv("BERTFEAT_HOME", str(tmp_path / "home"))
    vec = BertVectorizer(model=str(tiny_bert), store_weights=True, progress=False).fit(TEXTS)
    if how == "pickle":
        restored = pickle.loads(pickle.dumps(vec))
    else:
        persist.save(vec, tmp_path / "saved")
        restored = persist.load(tmp_path / "saved")
    np.testing.assert_allclose(restored.transform(TEXTS[:2]), vec.transform(TEXTS[:2]), atol=1e-6)

    restored.set_params(model=str(minilm_path)).fit(TEXTS)
    assert restored.n_features_out_ == 384 and restored.model_path_ == str(minilm_path)
    np.testing.assert_allclose(restored.transform(TEXTS[:2]), reference_vectors(minilm_path, TEXTS[:2]), atol=1e-5)

    # Back to the model the files were stored for: they serve again (no folder needed).
    restored.set_params(model=str(tiny_bert)).fit(TEXTS)
    np.testing.assert_allclose(restored.transform(TEXTS[:2]), reference_vectors(tiny_bert, TEXTS[:2]), atol=1e-5)


def test_set_params_model_after_unpickling_or_loading_uses_the_new_model(tiny_bert, tmp_path, monkeypatch):
    """Before: the restored model folder survived set_params(model=...), and fit silently
    kept the old model."""
    from bertfeat import persist
    from bertfeat._store import fingerprint

    monkeypatch.setenv("BERTFEAT_HOME", str(tmp_path / "home"))
    other = tmp_path / "other"
    shutil.copytree(tiny_bert, other)
    config = (other / "config.json").read_text().replace('"hidden_dropout_prob": 0.1', '"hidden_dropout_prob": 0.2')
    (other / "config.json").write_text(config)
    vec = BertVectorizer(model=str(tiny_bert), store_weights=True, progress=False).fit(TEXTS)
    persist.save(vec, tmp_path / "saved")
    assert fingerprint(other) != vec.model_fingerprint_
    for back in (pickle.loads(pickle.dumps(vec)), persist.load(tmp_path / "saved")):
        back.set_params(model=str(other)).fit(TEXTS)
        assert back.model_fingerprint_ == fingerprint(other)
        assert back.model_path_ == str(other.resolve())
