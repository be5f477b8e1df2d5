"""bertfeat.persist: JSON + safetensors, no pickle. Round trips are exact; tampering is refused."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import (
    LinearRegression,
    LogisticRegression,
    LogisticRegressionCV,
    Ridge,
    RidgeClassifier,
    SGDClassifier,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC, LinearSVR

from bertfeat import BertVectorizer, persist

ROOT = Path(__file__).resolve().parents[1]
TEXTS = [f"note {i}: {'good' if i % 3 else 'bad'} {'film' if i % 2 else 'book'}" for i in range(45)]
LABELS = np.array(["pos", "neg", "mid"] * 15)
TARGETS = np.arange(45) / 10.0
NEW = ["an unseen text", "good film", "bad book", ""]


def outputs(est, X):
    out = {"predict": est.predict(X)}
    for name in ("predict_proba", "decision_function"):
        if hasattr(est, name):
            out[name] = getattr(est, name)(X)
    return out


def assert_same_outputs(a, b, X=NEW):
    got, want = outputs(a, X), outputs(b, X)
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def logistic_regression_cv(**params) -> LogisticRegressionCV:
    """``LogisticRegressionCV`` with no deprecation warning on every supported scikit-learn: from
    1.8 it asks for ``use_legacy_attributes`` and for ``l1_ratios`` in place of ``penalty``;
    1.7 (the floor) has no ``use_legacy_attributes`` and keeps its legacy attributes."""
    if "use_legacy_attributes" in LogisticRegressionCV().get_params():
        params.update(l1_ratios=(0.0,), use_legacy_attributes=False)
    return LogisticRegressionCV(**params)


@pytest.fixture(scope="module")
def model_copy(tmp_path_factory, tiny_bert):
    folder = tmp_path_factory.mktemp("persist-model") / "model"
    shutil.copytree(tiny_bert, folder)
    return folder


@pytest.fixture(scope="module")
def fitted(model_copy):
    return make_pipeline(BertVectorizer(model=str(model_copy), progress=False), LogisticRegression(max_iter=1000)).fit(
        TEXTS, LABELS
    )


@pytest.mark.parametrize(
    "head, y",
    [
        (LogisticRegression(max_iter=1000, class_weight={"pos": 2.0, "neg": 1.0, "mid": 1.0}), LABELS),
        (
            logistic_regression_cv(max_iter=1000, cv=2, Cs=3, scoring="accuracy"),
            LABELS,
        ),
        (LinearSVC(), LABELS),
        (RidgeClassifier(), (LABELS == "pos").astype(int)),
        (SGDClassifier(random_state=0, loss="log_loss"), LABELS),
        (Ridge(alpha=0.5), TARGETS),
        (LinearRegression(), TARGETS),
        (LinearSVR(), TARGETS),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, np.ndarray) else "",
)
def test_round_trip_gives_identical_outputs(model_copy, tmp_path, head, y):
    pipe = make_pipeline(BertVectorizer(model=str(model_copy), progress=False), StandardScaler(), head).fit(TEXTS, y)
    persist.save(pipe, tmp_path / "saved")
    back = persist.load(tmp_path / "saved", model=str(model_copy))  # saved by reference: the caller names it
    assert [type(s) for _, s in back.steps] == [type(s) for _, s in pipe.steps]
    assert back.get_params(deep=True).keys() == pipe.get_params(deep=True).keys()
    assert_same_outputs(back, pipe)
    assert back[0].model_fingerprint_ == pipe[0].model_fingerprint_


def test_files_are_json_and_safetensors_only(fitted, tmp_path):
    persist.save(fitted, tmp_path / "saved")
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == ["arrays.safetensors", "bertfeat.json"]
    manifest = json.loads((tmp_path / "saved" / "bertfeat.json").read_text())
    assert manifest["format"] == "bertfeat.persist" and manifest["version"] == 1
    steps = manifest["root"]["steps"]
    assert [s[1]["__estimator__"] for s in steps] == [
        "bertfeat.vectorizer.BertVectorizer",
        "sklearn.linear_model.LogisticRegression",
    ]
    assert steps[0][1]["state"]["fitted"]["model_fingerprint_"] == fitted[0].model_fingerprint_


LOAD_IN_FRESH_PROCESS = textwrap.dedent(
    """
    import pickle, sys, joblib, numpy as np, torch
    def refuse(*args, **kwargs):
        raise AssertionError("persist.load must not unpickle anything")
    def audit(event, args):
        if event == "pickle.find_class":  # any unpickler resolving a class or function
            raise AssertionError(f"persist.load must not unpickle anything: {args}")
    pickle.load = pickle.loads = joblib.load = torch.load = refuse
    sys.addaudithook(audit)
    from bertfeat import persist
    pipe = persist.load(sys.argv[1], **({"model": sys.argv[3]} if len(sys.argv) > 3 else {}))
    np.save(sys.argv[2], pipe.predict_proba(["an unseen text", "good film", "bad book", ""]))
    """
)


@pytest.mark.parametrize("include_model", [False, True])
def test_loads_in_a_fresh_process_without_unpickling_anything(fitted, model_copy, tmp_path, include_model):
    persist.save(fitted, tmp_path / "saved", include_model=include_model)
    if include_model:  # self-contained: the original model folder is not needed
        moved = model_copy.with_name("model-moved-away")
        model_copy.rename(moved)
    try:
        env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
        result = subprocess.run(
            [sys.executable, "-c", LOAD_IN_FRESH_PROCESS, str(tmp_path / "saved"), str(tmp_path / "p.npy")]
            + ([] if include_model else [str(model_copy)]),
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        if include_model:
            moved.rename(model_copy)
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), fitted.predict_proba(NEW))


def test_store_weights_embeds_the_model_by_default(model_copy, tmp_path):
    pipe = make_pipeline(BertVectorizer(model=str(model_copy), store_weights=True), LogisticRegression()).fit(
        TEXTS, LABELS
    )
    persist.save(pipe, tmp_path / "saved")
    (embedded,) = (tmp_path / "saved" / "models").iterdir()
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in embedded.iterdir()}
    back = persist.load(tmp_path / "saved")
    assert back[0].model_path_ == str(embedded.resolve())
    assert_same_outputs(back, pipe)


def test_bare_vectorizer_and_pandas_output_round_trip(model_copy, tmp_path):
    pd = pytest.importorskip("pandas")
    vec = BertVectorizer(model=str(model_copy), pooling="cls", layers=[-2, -1], layer_agg="concat", normalize=True)
    vec.fit(pd.DataFrame({"review": TEXTS})).set_output(transform="pandas")
    persist.save(vec, tmp_path / "saved")
    back = persist.load(tmp_path / "saved", model=str(model_copy))
    assert back.get_params() == vec.get_params() and list(back.feature_names_in_) == ["review"]
    frame = back.transform(pd.DataFrame({"review": NEW}))
    assert isinstance(frame, pd.DataFrame)
    pd.testing.assert_frame_equal(frame, vec.transform(pd.DataFrame({"review": NEW})))


# -- what load refuses ---------------------------------------------------------------------
def edit_manifest(folder: Path, edit) -> None:
    path = folder / "bertfeat.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def head_doc(manifest):
    return manifest["root"]["steps"][1][1]


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda m: head_doc(m).update({"__estimator__": "os.system"}),
            r"asks for type 'os.system', which is not registered; refusing to load it\. Known types: .*LogisticRegression",
        ),
        (lambda m: head_doc(m).update({"__estimator__": "sklearn.linear_model.MadeUpRegression"}), r"not registered"),
        (lambda m: head_doc(m)["state"]["params"].update({"evil": 1}), r"LogisticRegression has no parameter 'evil'"),
        (
            lambda m: head_doc(m)["state"]["fitted"].update({"predict": "x"}),
            r"refusing to set attribute 'predict' \(not a fitted attribute\)",
        ),
        (lambda m: head_doc(m)["state"]["fitted"].update({"__class__": "x"}), r"unexpected value|refusing"),
        (
            lambda m: head_doc(m)["state"]["fitted"].update({"coef_": {"__pickle__": "gASV..."}}),
            r"unknown tag '__pickle__'; refusing to load",
        ),
        (
            lambda m: head_doc(m)["state"]["fitted"].update({"coef_": {"__array__": "no.such.array"}}),
            r"has no array 'no.such.array'",
        ),
        (
            lambda m: m["root"]["steps"][0][1]["state"]["fitted"].update({"_restored_dir": "/"}),
            r"BertVectorizer: refusing to set attribute",
        ),
        (lambda m: m.update({"version": 99}), r"is format version 99; this bertfeat reads 1"),
        (lambda m: m.update({"format": "something-else"}), r"is not a bertfeat.persist manifest"),
    ],
)
def test_tampered_manifest_is_refused(fitted, model_copy, tmp_path, edit, message):
    persist.save(fitted, tmp_path / "saved")
    edit_manifest(tmp_path / "saved", edit)
    with pytest.raises(ValueError, match=message):
        persist.load(tmp_path / "saved", model=str(model_copy))


def test_damaged_or_modified_array_file_is_detected(fitted, model_copy, tmp_path):
    persist.save(fitted, tmp_path / "saved")
    path = tmp_path / "saved" / "arrays.safetensors"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01  # one bit of a coefficient: the file still parses
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"arrays.safetensors' does not match the digest recorded in bertfeat.json"):
        persist.load(tmp_path / "saved", model=str(model_copy))


def test_extra_arrays_are_refused(fitted, model_copy, tmp_path):
    from safetensors.numpy import load_file, save_file

    persist.save(fitted, tmp_path / "saved")
    path = tmp_path / "saved" / "arrays.safetensors"
    arrays = load_file(str(path))
    arrays["smuggled"] = np.zeros(3)
    save_file(arrays, str(path))
    edit_manifest(tmp_path / "saved", lambda m: m.update({"arrays_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}))
    with pytest.raises(ValueError, match=r"holds arrays that bertfeat.json does not use \(smuggled\)"):
        persist.load(tmp_path / "saved", model=str(model_copy))


def test_embedded_model_damaged_or_pointing_outside_is_refused(fitted, tmp_path):
    persist.save(fitted, tmp_path / "saved", include_model=True)
    (embedded,) = (tmp_path / "saved" / "models").iterdir()
    weights = embedded / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"model files at '{embedded.resolve()}' changed since .*fingerprint"):
        persist.load(tmp_path / "saved")
    edit_manifest(tmp_path / "saved", lambda m: m["root"]["steps"][0][1]["state"]["model_files"].update({"folder": "../../elsewhere"}))
    with pytest.raises(ValueError, match=r"model folder '../../elsewhere' is outside"):
        persist.load(tmp_path / "saved")


def test_referenced_model_gone_or_changed_is_an_error_at_load(tiny_bert, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_bert, folder)
    pipe = make_pipeline(BertVectorizer(model=str(folder)), LogisticRegression()).fit(TEXTS, LABELS)
    persist.save(pipe, tmp_path / "saved")
    config = json.loads((folder / "config.json").read_text())
    config["hidden_dropout_prob"] = 0.3
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"model files at .* changed since this BertVectorizer was fitted .*fingerprint"):
        persist.load(tmp_path / "saved", model=str(folder))
    shutil.rmtree(folder)
    fp = pipe[0].model_fingerprint_[:16]
    with pytest.raises(FileNotFoundError, match=rf"does not exist\. This BertVectorizer was fitted on .*fingerprint {fp}"):
        persist.load(tmp_path / "saved", model=str(folder))


def test_other_folders_are_refused_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"has no bertfeat.json: not a folder written by bertfeat.persist.save"):
        persist.load(tmp_path)
    (tmp_path / "bertfeat.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"is not valid JSON"):
        persist.load(tmp_path)


def test_older_scikit_learn_version_warns(fitted, model_copy, tmp_path):
    persist.save(fitted, tmp_path / "saved")
    edit_manifest(tmp_path / "saved", lambda m: m.update({"sklearn": "1.0.2"}))
    with pytest.warns(UserWarning, match=r"saved with scikit-learn 1.0.2"):
        persist.load(tmp_path / "saved", model=str(model_copy))


# -- what save refuses ----------------------------------------------------------------------
def test_save_refuses_unregistered_types_and_non_data_parameters(model_copy, tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    forest = make_pipeline(BertVectorizer(model=str(model_copy)), RandomForestClassifier(n_estimators=2)).fit(
        TEXTS, LABELS
    )
    with pytest.raises(TypeError, match=r"RandomForestClassifier is not a registered type .*persist.register"):
        persist.save(forest, tmp_path / "a")
    seeded = make_pipeline(BertVectorizer(model=str(model_copy)), SGDClassifier(random_state=np.random.RandomState(0)))
    seeded.fit(TEXTS, LABELS)
    with pytest.raises(TypeError, match=r"cannot save .*random_state = RandomState"):
        persist.save(seeded, tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert not [p for p in tmp_path.iterdir() if ".saving-" in p.name]


def test_save_never_leaves_a_half_written_folder(fitted, model_copy, tmp_path, monkeypatch):
    import safetensors.numpy

    persist.save(fitted, tmp_path / "saved")
    before = {p.name: p.read_bytes() for p in (tmp_path / "saved").iterdir()}
    with pytest.raises(FileExistsError, match=r"exists and is not empty; pass overwrite=True"):
        persist.save(fitted, tmp_path / "saved")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors.numpy, "save_file", disk_full)
    with pytest.raises(OSError, match="No space left"):
        persist.save(fitted, tmp_path / "saved", overwrite=True)
    assert {p.name: p.read_bytes() for p in (tmp_path / "saved").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved"]
    monkeypatch.undo()
    persist.save(fitted, tmp_path / "saved", overwrite=True)
    assert_same_outputs(persist.load(tmp_path / "saved", model=str(model_copy)), fitted)


def test_unfitted_pipeline_is_refused(model_copy, tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        persist.save(make_pipeline(BertVectorizer(model=str(model_copy)), LogisticRegression()), tmp_path / "x")


# -- the registry, as a torch head would use it ---------------------------------------------
class TinyTorchHead(ClassifierMixin, BaseEstimator):
    """Stands in for bertfeat.heads.MLPHeadClassifier: torch weights plus JSON settings."""

    def __init__(self, hidden=4):
        self.hidden = hidden

    def fit(self, X, y):
        import torch

        torch.manual_seed(0)
        self.classes_ = np.unique(y)
        self.module_ = torch.nn.Sequential(
            torch.nn.Linear(X.shape[1], self.hidden), torch.nn.ReLU(), torch.nn.Linear(self.hidden, len(self.classes_))
        )
        return self

    def predict_proba(self, X):
        import torch

        with torch.no_grad():
            return torch.softmax(self.module_(torch.as_tensor(X, dtype=torch.float32)), dim=1).numpy()

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(1)]


def tiny_head_to_state(head):
    return {
        "params": {"hidden": head.hidden},
        "classes_": head.classes_,
        "n_inputs": head.module_[0].in_features,
        "weights": dict(head.module_.state_dict()),
    }


def tiny_head_from_state(state):
    import torch

    head = TinyTorchHead(**state["params"])
    head.fit(np.zeros((1, state["n_inputs"])), state["classes_"])
    assert all(isinstance(t, torch.Tensor) for t in state["weights"].values())
    head.module_.load_state_dict(state["weights"])
    return head


def test_a_registered_torch_head_round_trips(model_copy, tmp_path):
    persist.register(TinyTorchHead, tiny_head_to_state, tiny_head_from_state, name="tests.TinyTorchHead")
    try:
        vec = BertVectorizer(model=str(model_copy)).fit(TEXTS)
        head = TinyTorchHead().fit(vec.transform(TEXTS), LABELS)
        for p in head.module_.parameters():  # trained-looking weights
            p.data.add_(0.1)
        from sklearn.pipeline import Pipeline

        pipe = Pipeline([("vec", vec), ("head", head)])
        persist.save(pipe, tmp_path / "saved")
        back = persist.load(tmp_path / "saved", model=str(model_copy))
        np.testing.assert_array_equal(back.predict_proba(NEW), pipe.predict_proba(NEW))
        np.testing.assert_array_equal(back.predict(NEW), pipe.predict(NEW))
    finally:
        persist._registry._registry.pop("tests.TinyTorchHead")
    with pytest.raises(ValueError, match=r"'tests.TinyTorchHead', which is not registered"):
        persist.load(tmp_path / "saved", model=str(model_copy))


@pytest.mark.parametrize(
    "value",
    [
        {0: 2.0, 1: 1.0},
        {"a": (1, 2), ("t", 1): [None, True]},
        [float("nan"), float("inf"), -float("inf"), 0.1],
        np.float32(1.5),
        np.int64(7),
        np.array(["a", "bb"]),
        np.array([None, 0.5, "x"], dtype=object),
        np.arange(6, dtype=np.int16).reshape(2, 3),
        np.zeros((0, 4), dtype=np.float32),
        np.array(True),
    ],
    ids=repr,
)
def test_values_round_trip_exactly(value):
    writer = persist.Writer()
    doc = json.loads(json.dumps(writer.encode(value, "v"), allow_nan=False))
    back = persist.Reader({k: np.array(a) for k, a in writer.arrays.items()}).decode(doc)
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape
        assert np.array_equal(back, value) if value.dtype != object else list(back) == list(value)
    elif isinstance(value, list):
        np.testing.assert_array_equal(back, value)
    else:
        assert back == value and type(back) is type(value)


def test_pickle_of_a_loaded_pipeline_still_works(fitted, tmp_path):
    persist.save(fitted, tmp_path / "saved", include_model=True)
    back = persist.load(tmp_path / "saved")
    assert_same_outputs(pickle.loads(pickle.dumps(back)), fitted)


@pytest.mark.parametrize("head", ["classifier", "regressor"])
def test_mlp_head_pipeline_round_trip(tiny_bert, tmp_path, head):
    import pickle

    from sklearn.pipeline import make_pipeline

    from bertfeat import BertVectorizer, MLPHeadClassifier, MLPHeadRegressor
    from bertfeat import persist as persist_module

    texts = [f"review {i} {'good' if i % 2 else 'bad'}" for i in range(40)]
    if head == "classifier":
        y, est = np.array(["neg", "pos"] * 20), MLPHeadClassifier(max_epochs=3, hidden_layer_sizes=(8,), random_state=0)
    else:
        y, est = np.linspace(0, 1, 40), MLPHeadRegressor(max_epochs=3, hidden_layer_sizes=(8,), random_state=0)
    pipe = make_pipeline(BertVectorizer(model=str(tiny_bert)), est).fit(texts, y)
    persist_module.save(pipe, tmp_path / "saved")
    manifest = (tmp_path / "saved" / "bertfeat.json").read_text()
    assert "MLPHead" in manifest and "pickle" not in manifest
    back = persist_module.load(tmp_path / "saved", model=str(tiny_bert))
    np.testing.assert_array_equal(back.predict(texts), pipe.predict(texts))
    if head == "classifier":
        np.testing.assert_array_equal(back.predict_proba(texts), pipe.predict_proba(texts))
        assert list(back[-1].classes_) == ["neg", "pos"]
    pickle.loads(pickle.dumps(back)).predict(texts[:2])  # a loaded head is a normal estimator
