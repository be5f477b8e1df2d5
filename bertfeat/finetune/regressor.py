"""``FineTuneRegressor``: fine-tune a BERT-family encoder with a regression head (MSE)."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import StrOptions

from bertfeat.finetune.base import FineTuneBase


class FineTuneRegressor(RegressorMixin, FineTuneBase):
    """The whole transformer fine-tuned with a regression head (e.g. STS scores).

    Same training as :class:`FineTuneClassifier` (see there for every parameter), with
    ``problem_type="regression"``: a linear head of one output per target, trained
    with mean squared error on the targets as given (no scaling). ``y`` may be 1-D or
    ``(n_samples, n_targets)``. Early stopping watches ``"loss"`` (validation MSE) or
    ``"r2"``; the validation split is random (not stratified).

    Examples
    --------
    >>> reg = FineTuneRegressor(max_epochs=3, random_state=0)  # doctest: +SKIP
    >>> reg.fit([("a cat sits", "a cat is sitting"), ("a cat sits", "stocks fell")], [4.8, 0.2])  # doctest: +SKIP
    """

    _METRICS = {"loss": True, "r2": False}
    _PROBLEM_TYPES = ("regression",)
    _parameter_constraints = {
        **FineTuneBase._parameter_constraints,
        "early_stopping_metric": [StrOptions(set(_METRICS))],
    }

    # -- targets -------------------------------------------------------------------
    def _prepare_targets(self, y, n_rows: int):
        if y is None:
            raise ValueError("y is required for a regressor; got None")
        raw = y.to_numpy() if hasattr(y, "to_numpy") else y
        try:
            values = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"y must hold numbers for a regressor: {exc}") from exc
        if values.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D (n_samples, n_targets); got shape {values.shape}")
        if len(values) != n_rows:
            raise ValueError(f"X has {n_rows} rows but y has {len(values)}; they must match")
        bad = np.flatnonzero(~np.isfinite(values.reshape(len(values), -1)).all(axis=1))
        if len(bad):
            raise ValueError(f"y row {bad[0]}: NaN or infinite target")
        self.n_targets_ = 1 if values.ndim == 1 else values.shape[1]
        self._y_1d = values.ndim == 1
        return values.reshape(len(values), -1).astype(np.float32), None

    def _num_labels(self, targets) -> int:
        return self.n_targets_

    def _problem_type(self) -> str:
        return "regression"

    def _stratify(self, targets):
        return None

    def _loss(self, train_targets):
        import torch.nn.functional as F

        return F.mse_loss

    def _scorers(self) -> dict:
        return {"r2": lambda outputs, y: r2_score(y.numpy(), outputs.numpy())}

    def _target_meta(self) -> dict:
        return {"n_targets": self.n_targets_, "y_1d": self._y_1d}

    def _restore_targets(self, config, meta: dict) -> None:
        self.n_targets_ = int(meta.get("n_targets", config.num_labels))
        self._y_1d = bool(meta.get("y_1d", self.n_targets_ == 1))

    def predict(self, X):
        """Predicted targets: ``(n_samples,)`` when fitted on 1-D ``y``, else ``(n_samples, n_targets)``."""
        outputs = self._logits(X).astype(np.float64)
        return outputs[:, 0] if self._y_1d else outputs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
