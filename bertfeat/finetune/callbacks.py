"""Behaviour around the training loop, one small class each (skorch's idea).

The loop (:mod:`bertfeat.finetune.loop`) only trains and validates; everything else —
scoring, early stopping, the history, the progress bar — hooks into it here. A callback
overrides any of the hooks below; each receives the :class:`~bertfeat.finetune.loop.TrainState`.

Hooks, in the order they fire::

    on_train_begin -> (on_epoch_begin -> on_step_end* -> on_epoch_end)* -> on_train_end

``on_step_end`` runs after every optimizer step (``state.step``, ``state.lr``,
``state.batch_loss``); ``on_epoch_end`` sees ``state.row`` (the epoch's record, which
callbacks may extend) and may set ``state.stop = True``.

Examples
--------
>>> class StepLR(Callback):
...     def __init__(self):
...         self.lrs = []
...     def on_step_end(self, state):
...         self.lrs.append(state.lr)
>>> FineTuneClassifier(callbacks=[StepLR()])  # doctest: +SKIP
"""

from __future__ import annotations

import math


class Callback:
    """Base class: every hook does nothing."""

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

