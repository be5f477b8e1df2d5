"""The scikit-learn contract for estimators that take text.

scikit-learn's own checks skip estimators whose input is not a numeric 2-D array, so
the same contract is covered here, parametrized over every text estimator.
"""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from bertfeat import BertVectorizer, ContrastiveClassifier, FineTuneClassifier, FineTuneRegressor

TEXTS = ["good film", "bad film", "great acting", "awful plot", "fine", "terrible", "lovely", "boring"]
LABELS = np.array([1, 0, 1, 0, 1, 0, 1, 0])


def text_estimators(tiny_bert):
    """(name, factory) pairs; each factory gives a fresh, fast estimator."""
    return {
        "BertVectorizer": lambda: BertVectorizer(model=str(tiny_bert), progress=False),
        "BertVectorizer-cls-concat": lambda: BertVectorizer(
            model=str(tiny_bert), pooling="cls", layers=[-1, -2], layer_agg="concat", normalize=True
        ),
        "FineTuneClassifier": lambda: FineTuneClassifier(
            model=str(tiny_bert), max_epochs=1, batch_size=4, max_length=16, random_state=0, verbose=0
        ),
        "ContrastiveClassifier": lambda: ContrastiveClassifier(
            model=str(tiny_bert), n_iterations=1, batch_size=4, max_length=16, random_state=0, progress=False
        ),
    }


NAMES = ["BertVectorizer", "BertVectorizer-cls-concat", "FineTuneClassifier", "ContrastiveClassifier"]


@pytest.fixture(params=NAMES)
def make(request, tiny_bert):
    return text_estimators(tiny_bert)[request.param]


def output(est, X):
    return est.predict_proba(X) if hasattr(est, "predict_proba") else est.transform(X)


def test_init_stores_parameters_verbatim(make):
    est = make()
    params = est.get_params()
    for name, value in params.items():
        assert getattr(est, name) is value
    assert not [k for k in vars(est) if k.endswith("_")], "no learned state before fit"


def test_fit_returns_self(make):
    est = make()
    assert est.fit(TEXTS, LABELS) is est


def test_not_fitted_error(make):
    with pytest.raises(NotFittedError):
        output(make(), TEXTS)


def test_fit_is_idempotent(make):
    est = make().fit(TEXTS, LABELS)
    first = output(est, TEXTS)
    est.fit(TEXTS, LABELS)
    np.testing.assert_allclose(output(est, TEXTS), first, atol=1e-6)


def test_clone_has_equal_params_and_no_state(make):
    est = make().fit(TEXTS, LABELS)
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    assert not [k for k in vars(twin) if k.endswith("_")]


def test_get_set_params_round_trip(make):
    est = make()
    params = est.get_params()
    est.set_params(**params)
    assert est.get_params() == params
    est.set_params(pooling="max")
    assert est.get_params()["pooling"] == "max"
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(no_such_parameter=1)


def test_n_features_in_and_feature_names(make):
    pd = pytest.importorskip("pandas")
    est = make().fit(TEXTS, LABELS)
    assert est.n_features_in_ == 1 and not hasattr(est, "feature_names_in_")
    frame = pd.DataFrame({"review": TEXTS})
    est.fit(frame, LABELS)
    assert list(est.feature_names_in_) == ["review"]
    with pytest.raises(ValueError, match="columns"):
        est.transform(pd.DataFrame({"other": TEXTS}))


@pytest.mark.parametrize("fitted", [False, True])
def test_pickle_round_trip(make, fitted):
    est = make()
    if fitted:
        est.fit(TEXTS, LABELS)
    back = pickle.loads(pickle.dumps(est))
    assert back.get_params() == est.get_params()
    if fitted:
        np.testing.assert_array_equal(output(back, TEXTS), output(est, TEXTS))
    else:
        with pytest.raises(NotFittedError):
            output(back, TEXTS)


def test_input_is_not_mutated(make):
    pd = pytest.importorskip("pandas")
    texts = list(TEXTS)
    array = np.array(TEXTS, dtype=object)
    frame = pd.DataFrame({"text": TEXTS})
    est = make().fit(texts, LABELS)
    for X in (texts, array, frame):
        snapshot = pickle.dumps(X)
        output(est, X)
        assert pickle.dumps(X) == snapshot


def test_feature_names_out_and_pandas_output(make):
    pd = pytest.importorskip("pandas")
    est = make()
    if not isinstance(est, BertVectorizer):
        pytest.skip("feature names out: a transformer's contract")
    est.fit(TEXTS)
    names = est.get_feature_names_out()
    assert len(names) == est.n_features_out_ and names[0] == "bertvectorizer0"
    est.set_output(transform="pandas")
    index = pd.Index([f"row{i}" for i in range(len(TEXTS))])
    frame = est.transform(pd.Series(TEXTS, index=index))
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == list(names)
    assert list(frame.index) == list(index)


def test_bad_parameters_fail_at_fit_naming_the_parameter(tiny_bert):
    cases = {
        "pooling": ("foo", "'pooling' parameter of BertVectorizer must be a str among {"),
        "max_length": (-5, "'max_length' parameter of BertVectorizer must be an int in the range [1, inf) or None. Got -5"),
        "layers": ([7], "layers holds 7, but the model has 2 layers"),
        "device": ("tpu", "device='tpu' is not one of"),
        "truncation": ("tail", "'truncation' parameter of BertVectorizer must be a str among {"),
        "dtype": ("float8", "'dtype' parameter of BertVectorizer must be a str among {"),
        "batch_size": (0, "'batch_size' parameter of BertVectorizer must be an int in the range [1, inf) or a str among {'auto'}. Got 0"),
    }
    for name, (value, message) in cases.items():
        est = BertVectorizer(model=str(tiny_bert), **{name: value})  # __init__ accepts anything
        with pytest.raises((ValueError, TypeError), match=re.escape(message)):
            est.fit(TEXTS)
    with pytest.raises(ValueError, match="stride=200 must be smaller than max_length"):
        BertVectorizer(model=str(tiny_bert), truncation="chunk", max_length=128, stride=200).fit(TEXTS)
    with pytest.raises(ValueError, match="max_length=100000 is more than the model's maximum of 512"):
        BertVectorizer(model=str(tiny_bert), max_length=100000).fit(TEXTS)


def test_tags_declare_text_input(tiny_bert):
    from sklearn.utils import get_tags

    tags = get_tags(BertVectorizer(model=str(tiny_bert)))
    assert tags.input_tags.string and tags.input_tags.one_d_array and not tags.input_tags.two_d_array


# -- scikit-learn's own checks, those that do not feed numbers ------------------------------
# For estimators tagged two_d_array=False scikit-learn yields no checks at all (its checks
# feed numeric arrays), so parametrize_with_checks would run nothing here. These checks
# look at parameters, tags, cloning and validation only; they apply to text estimators
# as they are. check_param_validation in particular fails when a parameter has no
# declared constraint or a bad value gets past fit.
INPUT_FREE_CHECKS = [
    "check_estimator_cloneable",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
    "check_estimator_repr",
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_mixin_order",
    "check_param_validation",
]


def test_scikit_learn_yields_nothing_for_text_estimators():
    """Why the checks below are applied one by one: the generic route runs none."""
    from sklearn.utils.estimator_checks import check_estimator

    with pytest.warns(UserWarning, match="Can't test estimator"):
        results = check_estimator(BertVectorizer(), on_fail=None)
    assert [r["check_name"] for r in results if r["status"] == "passed"] == ["check_estimator_cloneable"]


@pytest.mark.parametrize("check_name", INPUT_FREE_CHECKS)
@pytest.mark.parametrize("estimator", [BertVectorizer(), FineTuneClassifier(), FineTuneRegressor(), ContrastiveClassifier()], ids=lambda e: type(e).__name__)
def test_sklearn_checks_that_apply_to_text_estimators(estimator, check_name):
    from sklearn.utils import estimator_checks

    check = getattr(estimator_checks, check_name)  # an AttributeError if scikit-learn renames one
    check(type(estimator).__name__, estimator)
