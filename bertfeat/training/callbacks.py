"""Behaviour around the training loop, one small class each (skorch's idea).

The loop (:mod:`bertfeat.training.loop`) only trains and validates; everything else —
scoring, early stopping, the history, the progress bar, the log — hooks into it here. A
callback overrides any of the hooks below; each receives the
:class:`~bertfeat.training.loop.TrainState`.

Hooks, in the order they fire::

    on_train_begin -> (on_epoch_begin -> on_step_end* -> on_epoch_end)* -> on_train_end

``on_step_end`` runs after every optimizer step (``state.step``, ``state.lr``,
``state.batch_loss``); ``on_epoch_end`` sees ``state.row`` (the epoch's record, which
callbacks may extend) and may set ``state.stop = True``.

Callbacks are scikit-learn estimators as far as parameters go (``get_params``,
``set_params``, ``clone``). An estimator takes them as ``(name, callback)`` pairs
(a bare callback is named after its class) and exposes their parameters as
``callbacks__<name>__<param>``, so a grid search can tune them, as in skorch.

Examples
--------
>>> class StepLR(Callback):
...     def __init__(self):
...         self.lrs = []
...     def on_step_end(self, state):
...         self.lrs.append(state.lr)
>>> FineTuneClassifier(callbacks=[("lrs", StepLR())])  # doctest: +SKIP
>>> search = GridSearchCV(  # doctest: +SKIP
...     MLPHeadClassifier(callbacks=[("stop", EarlyStopping(patience=2))]),
...     {"callbacks__stop__patience": [2, 5]},
... )
"""

from __future__ import annotations

import math

from sklearn.base import BaseEstimator


class Callback(BaseEstimator):
    """Base class: every hook does nothing.

    Like an estimator, ``__init__`` stores its arguments under their own names (so
    ``get_params``, ``set_params`` and ``clone`` work); state made during training
    lives in other attributes, set in ``on_train_begin``.
    """

    def on_train_begin(self, state) -> None:
        pass

    def on_epoch_begin(self, state) -> None:
        pass

    def on_step_end(self, state) -> None:
        pass

    def on_epoch_end(self, state) -> None:
        pass

    def on_train_end(self, state) -> None:
        pass


class EpochScoring(Callback):
    """Adds ``valid_<name>`` to the epoch's row: ``score(logits, targets)`` on the validation set."""

    def __init__(self, name: str, score):
        self.name = name
        self.score = score

    def on_epoch_end(self, state) -> None:
        if state.valid_logits is not None:
            state.row[f"valid_{self.name}"] = float(self.score(state.valid_logits, state.valid_targets))


class EarlyStopping(Callback):
    """Stops after ``patience`` epochs without improvement of ``monitor``; restores the best weights.

    ``lower_is_better``: True for a loss, False for accuracy or F1. The best weights are
    kept as a CPU copy of the state dict and loaded back when training ends, so the
    fitted model is the one of ``best_epoch``.
    """

    def __init__(self, monitor: str = "valid_loss", patience: int = 2, lower_is_better: bool = True):
        self.monitor = monitor
        self.patience = patience
        self.lower_is_better = lower_is_better

    def on_train_begin(self, state) -> None:
        self.best_score = math.inf if self.lower_is_better else -math.inf
        self.best_epoch = 0
        self.best_weights = None
        self.waited = 0

    def on_epoch_end(self, state) -> None:
        score = state.row[self.monitor]
        better = score < self.best_score if self.lower_is_better else score > self.best_score
        state.row["best"] = bool(better)
        if better:
            self.best_score, self.best_epoch, self.waited = score, state.epoch, 0
            self.best_weights = {k: v.detach().to("cpu", copy=True) for k, v in state.module.state_dict().items()}
        else:
            self.waited += 1
            if self.waited >= self.patience:
                state.stop = True

    def on_train_end(self, state) -> None:
        if self.best_weights is not None and self.best_epoch != state.epoch:
            state.module.load_state_dict(self.best_weights)
        state.best_epoch = self.best_epoch
        self.best_weights = None  # the copy is not part of the fitted estimator


class History(Callback):
    """Keeps every epoch's row (a list of dicts) in ``rows``."""

    def on_train_begin(self, state) -> None:
        self.rows = []

    def on_epoch_end(self, state) -> None:
        self.rows.append(dict(state.row))


class ProgressBar(Callback):
    """A tqdm bar over each epoch's optimizer steps, and one summary line per epoch."""

    def on_epoch_begin(self, state) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=state.steps_per_epoch, desc=f"epoch {state.epoch}/{state.max_epochs}", unit="step", leave=False)

    def on_step_end(self, state) -> None:
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{state.batch_loss:.4f}", lr=f"{state.lr:.2e}", refresh=False)

    def on_epoch_end(self, state) -> None:
        from tqdm.auto import tqdm

        self.bar.close()
        tqdm.write(format_row(state.row, state.max_epochs))

    def on_train_end(self, state) -> None:
        bar = getattr(self, "bar", None)
        if bar is not None:
            bar.close()


class PrintLog(Callback):
    """One line per epoch, printed (``format_row``)."""

    def on_epoch_end(self, state) -> None:
        print(format_row(state.row, state.max_epochs))


def format_row(row: dict, max_epochs: int) -> str:
    parts = [f"epoch {row['epoch']}/{max_epochs}"]
    for key, value in row.items():
        if key in ("epoch", "best"):
            continue
        if key == "lr":
            parts.append(f"lr {value:.2e}")
        elif key == "seconds":
            parts.append(f"{value:.1f}s")
        else:
            parts.append(f"{key} {value:.4f}")
    if row.get("best"):
        parts.append("*")
    return "  ".join(parts)


# -- named callbacks as estimator parameters ---------------------------------------------
def named_callbacks(callbacks) -> list[tuple[str, Callback]]:
    """``callbacks`` (None, or a list of ``(name, callback)`` pairs and bare callbacks) as
    ``(name, callback)`` pairs; a bare callback is named after its class.

    Raises a ``TypeError`` naming the entry that is not a callback, and a ``ValueError``
    for a name used twice or holding ``"__"``.
    """
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be None or a list of (name, Callback) pairs; got {type(callbacks).__name__}")
    pairs = []
    for i, entry in enumerate(callbacks):
        if isinstance(entry, Callback):
            pairs.append((type(entry).__name__, entry))
        elif isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str) and isinstance(entry[1], Callback):
            pairs.append(entry)
        else:
            raise TypeError(
                f"callbacks[{i}] is {entry!r}: expected a (name, Callback) pair or a Callback "
                "(bertfeat.training.Callback)"
            )
    names = [name for name, _ in pairs]
    for name in names:
        if "__" in name or not name:
            raise ValueError(f"callback name {name!r} must be non-empty and must not contain '__'")
        if names.count(name) > 1:
            raise ValueError(f"callback name {name!r} is used twice; give each callback its own name")
    return pairs


class CallbackParamsMixin:
    """``get_params(deep=True)`` lists each named callback and its parameters as
    ``callbacks__<name>`` and ``callbacks__<name>__<param>``; ``set_params`` sets them."""

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        if deep and isinstance(self.callbacks, (list, tuple)):
            try:
                pairs = named_callbacks(self.callbacks)
            except (TypeError, ValueError):  # reported by fit; get_params must not fail
                return params
            for name, callback in pairs:
                params[f"callbacks__{name}"] = callback
                for key, value in callback.get_params(deep=True).items():
                    params[f"callbacks__{name}__{key}"] = value
        return params

    def set_params(self, **params):
        own = {k: v for k, v in params.items() if not k.startswith("callbacks__")}
        if own:  # "callbacks" itself first, so that nested keys address the new list
            super().set_params(**own)
        nested = {k[len("callbacks__") :]: v for k, v in params.items() if k.startswith("callbacks__")}
        if not nested:
            return self
        names = [name for name, _ in named_callbacks(self.callbacks)]
        replaced, settings = {}, []
        for key, value in nested.items():
            name, _, param = key.partition("__")
            if name not in names:
                raise ValueError(
                    f"Invalid parameter 'callbacks__{key}' for estimator {type(self).__name__}: "
                    f"no callback named {name!r} (named: {names})"
                )
            if param:
                settings.append((name, param, value))
            else:
                replaced[name] = value
        if replaced:  # whole callbacks first, then parameters of the (new) callbacks
            self.callbacks = [(n, replaced[n]) if n in replaced else entry for n, entry in zip(names, self.callbacks)]
        current = dict(named_callbacks(self.callbacks))
        for name, param, value in settings:
            current[name].set_params(**{param: value})
        return self
