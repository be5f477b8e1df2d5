"""MLPHeadClassifier / MLPHeadRegressor: the scikit-learn contract, learning, persistence."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_blobs, make_classification, make_regression
from sklearn.dummy import DummyClassifier
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from bertfeat.heads import MLPHeadClassifier, MLPHeadRegressor
from bertfeat.training import Callback, EarlyStopping

ROOT = Path(__file__).resolve().parents[1]


def clf(**params) -> MLPHeadClassifier:
    """A small, fast classifier on the CPU; tests override what they exercise."""
    settings = dict(hidden_layer_sizes=(16,), learning_rate=1e-2, max_epochs=30, random_state=0, device="cpu")
    return MLPHeadClassifier(**{**settings, **params})


def reg(**params) -> MLPHeadRegressor:
    settings = dict(hidden_layer_sizes=(16,), learning_rate=1e-2, max_epochs=30, random_state=0, device="cpu")
    return MLPHeadRegressor(**{**settings, **params})


def blobs(n=200, centers=2, std=1.0, seed=0):
    return make_blobs(n_samples=n, centers=centers, cluster_std=std, n_features=4, random_state=seed)


# -- scikit-learn contract ------------------------------------------------------------


@parametrize_with_checks([clf(max_epochs=20), reg(max_epochs=20)])
def test_sklearn_contract(estimator, check):
    check(estimator)


def test_parameters_are_checked_at_fit_not_init():
    X, y = blobs(40)
    bad = MLPHeadClassifier(hidden_layer_sizes=(16, 0), activation="swish")
    assert bad.hidden_layer_sizes == (16, 0)  # stored verbatim
    with pytest.raises(ValueError, match="activation"):
        bad.fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        bad.set_params(activation="gelu").fit(X, y)
    with pytest.raises(ValueError, match="not one of"):
        clf(device="tpu").fit(X, y)


# -- classification ---------------------------------------------------------------------


def test_learns_a_separable_problem():
    X, y = blobs(200, std=0.5)
    model = clf(early_stopping=False).fit(X, y)
    assert model.score(X, y) == 1.0


def test_beats_a_dummy_classifier():
    X, y = make_classification(n_samples=600, n_features=20, n_informative=6, random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    dummy = DummyClassifier().fit(X_train, y_train).score(X_test, y_test)
    model = clf().fit(X_train, y_train)
    assert model.score(X_test, y_test) > dummy + 0.25


def test_predict_proba_rows_sum_to_one_and_agree_with_predict():
    X, y = blobs(150, centers=3, std=2.0)
    model = clf().fit(X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_array_equal(model.classes_[proba.argmax(axis=1)], model.predict(X))
    assert model.decision_function(X).shape == (150, 3)


def test_string_labels_round_trip_and_dataframe_names():
    pd = pytest.importorskip("pandas")
    X, y = blobs(150, centers=3, std=0.5)
    names = np.array(["zebra", "ant", "moth"])[y]
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    model = clf(early_stopping=False).fit(frame, names)
    assert model.classes_.tolist() == ["ant", "moth", "zebra"]
    assert model.feature_names_in_.tolist() == ["a", "b", "c", "d"]
    assert model.n_features_in_ == 4
    predicted = model.predict(frame)
    assert set(predicted) <= {"zebra", "ant", "moth"}
    assert (predicted == names).mean() > 0.95


def _imbalanced():
    return make_classification(
        n_samples=400, n_features=8, weights=[0.9, 0.1], flip_y=0.05, class_sep=0.5, random_state=1
    )


def test_class_weight_balanced_and_dict_favour_the_minority_class():
    X, y = _imbalanced()
    plain = clf(class_weight=None).fit(X, y)
    minority = [(clf(class_weight=cw).fit(X, y).predict(X) == 1).mean() for cw in ("balanced", {0: 1, 1: 9})]
    base = (plain.predict(X) == 1).mean()
    assert minority[0] > base + 0.05
    assert minority[1] > base + 0.05


def test_class_weight_balanced_is_refused_by_partial_fit():
    X, y = _imbalanced()
    with pytest.raises(ValueError, match="balanced"):
        clf(class_weight="balanced").partial_fit(X, y, classes=[0, 1])


def test_bad_labels_are_reported():
    X, _ = blobs(20)
    with pytest.raises(ValueError, match=r"only 1 class: \['spam'\]"):
        clf().fit(X, ["spam"] * 20)
    labels = np.array(["a", "b"] * 10, dtype=object)
    labels[3] = None
    with pytest.raises(ValueError, match="y row 3: missing label"):
        clf().fit(X, labels)
    with pytest.raises(ValueError, match="NaN"):
        clf().fit(X, np.r_[np.nan, np.ones(19)])
    with pytest.raises(ValueError, match="continuous"):
        clf().fit(X, np.linspace(0, 1, 20))


def test_early_stopping_stops_on_a_plateau_and_restores_the_best_weights():
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(300, 10)), rng.randint(0, 2, 300)  # nothing to learn: overfits fast
    model = clf(hidden_layer_sizes=(64,), dropout=0.0, max_epochs=200, patience=3).fit(X, y)
    curve = model.validation_loss_curve_
    assert model.n_iter_ < 200
    assert len(curve) == model.n_iter_ == len(model.loss_curve_)
    best = int(np.argmin(curve))
    assert best == model.n_iter_ - 1 - 3  # stopped `patience` epochs after the best
    assert model.best_validation_loss_ == curve[best] < curve[-1]
    # The weights kept are those of the best epoch, not the last one.
    _, val = model._split(y)
    held_out = log_loss(y[val], model.predict_proba(X[val]), labels=[0, 1])
    assert held_out == pytest.approx(curve[best], rel=1e-4)
    assert held_out != pytest.approx(curve[-1], rel=1e-4)


def test_partial_fit_runs_one_epoch_per_call_and_lowers_the_loss():
    X, y = blobs(200, std=2.0)
    model = clf(learning_rate=1e-3)
    with pytest.raises(ValueError, match="classes must be passed"):
        model.partial_fit(X, y)
    model.partial_fit(X, y, classes=[0, 1])
    for calls in range(2, 11):
        model.partial_fit(X, y)
        assert model.n_iter_ == calls == len(model.loss_curve_)
    assert model.loss_curve_[-1] < 0.8 * model.loss_curve_[0]
    with pytest.raises(ValueError, match="not in classes_"):
        model.partial_fit(X, y + 5)


def test_fit_then_partial_fit_through_pickle_equals_one_longer_fit():
    """Epoch seeds and the AdamW state carry over, across pickling too."""
    X, y = blobs(200, std=2.0)
    whole = clf(early_stopping=False, max_epochs=4).fit(X, y)
    stepped = pickle.loads(pickle.dumps(clf(early_stopping=False, max_epochs=2).fit(X, y)))
    stepped.partial_fit(X, y)
    stepped.partial_fit(X, y)
    assert stepped.loss_curve_ == whole.loss_curve_
    np.testing.assert_array_equal(stepped.predict_proba(X), whole.predict_proba(X))


@pytest.fixture
def global_rng():
    """Give torch and numpy's global generators a known state, and put theirs back after."""
    numpy_state = np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(20260101)
        np.random.seed(20260101)
        yield
    np.random.set_state(numpy_state)


def test_same_random_state_same_model_and_global_rng_untouched(global_rng):
    X, y = blobs(200, centers=3, std=2.0)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    first, second = clf(random_state=7).fit(X, y), clf(random_state=7).fit(X, y)
    assert torch.equal(torch_state, torch.get_rng_state())
    assert np.array_equal(numpy_state[1], np.random.get_state()[1])
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    assert first.loss_curve_ == second.loss_curve_
    other = clf(random_state=8).fit(X, y)
    assert not np.array_equal(first.predict_proba(X), other.predict_proba(X))


# -- model selection and persistence --------------------------------------------------


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search(n_jobs):
    X, y = make_classification(n_samples=200, n_features=8, random_state=0)
    grid = GridSearchCV(
        clf(max_epochs=15), {"hidden_layer_sizes": [(8,), (16,)], "activation": ["relu", "tanh"]},
        cv=2, n_jobs=n_jobs,
    )  # fmt: skip
    grid.fit(X, y)
    assert grid.best_score_ > 0.7
    assert grid.best_estimator_.n_iter_ >= 1
    assert grid.predict(X).shape == (200,)


def _walk(obj):
    yield obj
    if isinstance(obj, dict):
        for value in obj.values():
            yield from _walk(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _walk(value)


def test_pickled_state_holds_only_cpu_tensors_and_reloads_without_cuda(monkeypatch):
    X, y = blobs(100)
    model = clf(device="auto").fit(X, y)
    state = model.__getstate__()
    parts = list(_walk(state))
    assert not any(isinstance(p, torch.nn.Module) for p in parts)
    tensors = [p for p in parts if torch.is_tensor(p)]
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    assert isinstance(model.module_, torch.nn.Module)  # pickling leaves the live model alone

    blob = pickle.dumps(model)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a CPU-only machine
    loaded = pickle.loads(blob)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    # A head pinned to CUDA says so on a CPU-only machine, and can be moved.
    loaded.set_params(device="cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        loaded.predict(X)
    np.testing.assert_array_equal(loaded.set_params(device="cpu").predict(X), model.predict(X))
    # Training continues after unpickling, with the optimizer state restored.
    loaded.partial_fit(X, y)
    assert loaded.n_iter_ == model.n_iter_ + 1


_PREDICT_IN_FRESH_PROCESS = """
import sys, joblib, numpy as np
model = joblib.load(sys.argv[1])
np.save(sys.argv[3], model.predict_proba(np.load(sys.argv[2])))
"""


def _predict_in_fresh_process(tmp_path, model, X, env=None):
    joblib.dump(model, tmp_path / "model.joblib")
    np.save(tmp_path / "X.npy", X)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})}
    subprocess.run(
        [sys.executable, "-c", _PREDICT_IN_FRESH_PROCESS, str(tmp_path / "model.joblib"),
         str(tmp_path / "X.npy"), str(tmp_path / "proba.npy")],
        check=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    return np.load(tmp_path / "proba.npy")


def test_pickled_pipeline_predicts_identically_in_a_fresh_process(tmp_path):
    X, y = make_classification(n_samples=200, n_features=8, random_state=0)
    pipe = make_pipeline(StandardScaler(), clf()).fit(X, y)
    np.testing.assert_array_equal(_predict_in_fresh_process(tmp_path, pipe, X), pipe.predict_proba(X))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fitted_on_cuda_unpickles_and_predicts_with_cuda_hidden(tmp_path):
    X, y = make_classification(n_samples=300, n_features=8, random_state=0)
    model = clf(device="auto").fit(X, y)
    assert next(model.module_.parameters()).device.type == "cuda"
    proba = _predict_in_fresh_process(tmp_path, model, X, env={"CUDA_VISIBLE_DEVICES": ""})
    np.testing.assert_allclose(proba, model.predict_proba(X), atol=1e-5)


# -- regression ---------------------------------------------------------------------------


def test_regressor_learns_a_linear_target():
    X, y = make_regression(n_samples=400, n_features=5, noise=5.0, random_state=0)
    y = 300 * y + 1000  # a scale far from 1: targets are standardised internally
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    model = reg(max_epochs=60).fit(X_train, y_train)
    assert model.score(X_test, y_test) > 0.9
    assert model.predict(X_test).shape == (100,)


def test_regressor_two_outputs_and_nan_targets():
    X, y = make_regression(n_samples=300, n_features=5, noise=1.0, random_state=0)
    Y = np.column_stack([y, -2 * y + 5])
    model = reg(max_epochs=60).fit(X, Y)
    assert model.n_outputs_ == 2 and model.predict(X).shape == (300, 2)
    assert model.score(X, Y) > 0.9
    with pytest.raises(ValueError, match="NaN"):
        reg().fit(X, np.r_[np.nan, y[1:]])


# -- callbacks: the shared training loop, named and grid-searchable --------------------------


class StepCounter(Callback):
    """Counts optimizer steps and epochs, as the training loop reports them."""

    def __init__(self, label="steps"):
        self.label = label

    def on_train_begin(self, state):
        self.steps, self.epochs = 0, 0

    def on_step_end(self, state):
        self.steps += 1

    def on_epoch_end(self, state):
        self.epochs += 1


def test_heads_train_on_the_shared_loop_with_user_callbacks():
    X, y = blobs(100)
    counter = StepCounter()
    model = clf(early_stopping=False, max_epochs=3, batch_size=16, callbacks=[("count", counter)]).fit(X, y)
    assert counter.epochs == 3 == model.n_iter_
    assert counter.steps == 3 * int(np.ceil(100 / 16))  # one step per batch
    model.partial_fit(X, y)
    assert counter.epochs == 1 and counter.steps == 7  # partial_fit: one epoch through the loop


def test_callbacks_are_named_parameters_as_in_skorch():
    stop = EarlyStopping(patience=2)
    model = clf(callbacks=[("stop", stop), StepCounter()])  # a bare callback is named after its class
    params = model.get_params(deep=True)
    assert params["callbacks__stop"] is stop and params["callbacks__stop__patience"] == 2
    assert params["callbacks__StepCounter__label"] == "steps"
    model.set_params(callbacks__stop__patience=7, callbacks__StepCounter__label="n")
    assert stop.patience == 7 and model.callbacks[1].label == "n"
    other = EarlyStopping(patience=4)
    model.set_params(callbacks__stop=other)
    assert model.callbacks[0] == ("stop", other)
    twin = clone(model)
    assert twin.callbacks[0][1] is not other and twin.get_params()["callbacks__stop__patience"] == 4
    with pytest.raises(ValueError, match="no callback named 'nope'"):
        model.set_params(callbacks__nope__patience=1)
    with pytest.raises(TypeError, match=r"callbacks\[0\]"):
        clf(callbacks=[("x", print)]).fit(*blobs(40))
    with pytest.raises(ValueError, match="used twice"):
        clf(callbacks=[("a", StepCounter()), ("a", StepCounter())]).fit(*blobs(40))


def test_grid_search_over_a_callback_parameter():
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(200, 10)), rng.randint(0, 2, 200)  # nothing to learn: overfits fast
    # The built-in early stopping waits long; the named one decides when training ends.
    base = clf(hidden_layer_sizes=(64,), dropout=0.0, max_epochs=100, patience=50,
               callbacks=[("stop", EarlyStopping(patience=1))])  # fmt: skip
    grid = GridSearchCV(base, {"callbacks__stop__patience": [1, 4]}, cv=2, refit=True).fit(X, y)
    assert [p["callbacks__stop__patience"] for p in grid.cv_results_["params"]] == [1, 4]
    chosen = grid.best_params_["callbacks__stop__patience"]
    stop = grid.best_estimator_.callbacks[0][1]
    assert stop.patience == chosen and base.callbacks[0][1].patience == 1  # the searched copy, not the original
    # Each candidate really trained with its patience: it stopped that many epochs after its best.
    for patience in (1, 4):
        model = clone(base).set_params(callbacks__stop__patience=patience).fit(X, y)
        best = model.callbacks[0][1].best_epoch
        assert model.n_iter_ == best + patience
