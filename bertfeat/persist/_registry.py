"""The narrow list of types :func:`bertfeat.persist.load` may build, and how each one
turns into state and back.

bertfeat's own estimators write and read their state themselves (``_persist_state`` /
``_from_persist_state``, see :mod:`bertfeat._state`); scikit-learn estimators whose
fitted state is their public ``*_`` attributes use the generic functions there. Nothing
here sets another class's private attributes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bertfeat._state import Stateful, sklearn_from_state, sklearn_state


@dataclass(frozen=True)
class Handler:
    cls: type
    to_state: Callable[[Any, Any], dict]  # (estimator, store) -> state
    from_state: Callable[[dict, Any], Any]  # (state, store) -> estimator


_registry: dict[str, Handler] = {}


def type_name(cls: type) -> str:
    """Public dotted name: ``sklearn.linear_model.LogisticRegression``."""
    module = ".".join(p for p in cls.__module__.split(".") if not p.startswith("_"))
    return f"{module}.{cls.__qualname__}"


def register(
    cls: type,
    to_state: Callable[[Any], dict] | None = None,
    from_state: Callable[[dict], Any] | None = None,
    name: str | None = None,
) -> None:
    """Make ``cls`` savable by :func:`save` and buildable by :func:`load`.

    ``to_state(estimator)`` returns a dict whose values are JSON values (None, bool, int,
    float, str, lists, tuples, dicts), numpy arrays, torch tensors, or registered
    estimators, nested at any depth. ``from_state(state)`` gets that dict back (arrays as
    numpy, tensors as torch) and returns the fitted estimator; it must build the estimator
    from data only. A class that mixes in :class:`bertfeat._state.Stateful` needs neither:
    its own ``_persist_state`` / ``_from_persist_state`` are used.
    """
    if to_state is None and from_state is None and issubclass(cls, Stateful):
        handler = Handler(cls, lambda est, store: est._persist_state(store), cls._from_persist_state)
    elif to_state is None or from_state is None:
        raise TypeError(f"register({cls.__name__}): give both to_state and from_state")
    else:
        handler = Handler(cls, lambda est, store: to_state(est), lambda state, store: from_state(state))
    _registry[name or type_name(cls)] = handler


def register_sklearn(cls: type, private: tuple[str, ...] = (), name: str | None = None) -> None:
    """Register a scikit-learn style estimator (parameters + fitted ``*_`` attributes)."""
    _registry[name or type_name(cls)] = Handler(
        cls,
        lambda est, store: sklearn_state(est, private, store),
        lambda state, store: sklearn_from_state(cls, state, private, store),
    )


def registered_types() -> list[str]:
    register_builtins()
    return sorted(_registry)


def handler_for(estimator) -> tuple[str, Handler] | None:
    for name, handler in _registry.items():
        if type(estimator) is handler.cls:
            return name, handler
    return None


_builtins_done = False


def register_builtins() -> None:
    global _builtins_done
    if _builtins_done:
        return
    from sklearn import linear_model as lm
    from sklearn import preprocessing as pre
    from sklearn import svm

    from bertfeat.contrastive import ContrastiveClassifier
    from bertfeat.finetune import FineTuneClassifier, FineTuneRegressor
    from bertfeat.heads import MLPHeadClassifier, MLPHeadRegressor
    from bertfeat.tokens import FineTuneTokenClassifier, FrozenTokenClassifier
    from bertfeat.vectorizer import BertVectorizer

    for cls in (
        lm.LogisticRegression,
        lm.LogisticRegressionCV,
        lm.LinearRegression,
        lm.Ridge,
        lm.RidgeCV,
        lm.Lasso,
        lm.ElasticNet,
        lm.SGDClassifier,
        lm.SGDRegressor,
        lm.Perceptron,
        svm.LinearSVC,
        svm.LinearSVR,
        pre.StandardScaler,
        pre.Normalizer,
        pre.LabelBinarizer,
    ):
        if type_name(cls) not in _registry:
            register_sklearn(cls)
    for cls in (lm.RidgeClassifier, lm.RidgeClassifierCV):  # predict reads _label_binarizer
        if type_name(cls) not in _registry:
            register_sklearn(cls, private=("_label_binarizer",))
    for cls in (
        BertVectorizer,
        MLPHeadClassifier,
        MLPHeadRegressor,
        FineTuneClassifier,
        FineTuneRegressor,
        FineTuneTokenClassifier,
        FrozenTokenClassifier,
        ContrastiveClassifier,
    ):
        if type_name(cls) not in _registry:
            register(cls)
    _builtins_done = True
