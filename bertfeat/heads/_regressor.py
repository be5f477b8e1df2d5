"""``MLPHeadRegressor``: mean-squared-error head for one or several continuous targets."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import RegressorMixin
from torch.nn import functional as F

from bertfeat.heads._base import _MLPHead, _parameters_doc


class MLPHeadRegressor(RegressorMixin, _MLPHead):
    _y_options = {"multi_output": True, "y_numeric": True}
    _stratify = False

    def fit(self, X, y):
        """Train from scratch on ``X`` and targets ``y`` of shape (n,) or (n, n_outputs)."""
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y):
        """One epoch over ``(X, y)``, continuing from the current weights."""
        return self._fit(X, y, incremental=True)

    def _targets(self, y, *, reset, classes=None):
        y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        if reset:  # standardised targets: the default learning rate suits any scale
            self.n_outputs_ = y.shape[1]
            self._y_mean, self._y_scale = y.mean(axis=0), y.std(axis=0)
            self._y_scale[self._y_scale == 0] = 1.0
        elif y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {y.shape[1]} outputs; this regressor was fitted on {self.n_outputs_}")
        return torch.tensor((y - self._y_mean) / self._y_scale, dtype=torch.float32)

    def _loss_fn(self, y, incremental):
        return F.mse_loss

    def predict(self, X):
        """Predicted targets, shape (n_samples,) or (n_samples, n_outputs)."""
        out = self._raw_output(X) * self._y_scale + self._y_mean
        return out.ravel() if self.n_outputs_ == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


MLPHeadRegressor.__doc__ = (
    """A small torch MLP regressor, the twin of :class:`MLPHeadClassifier`.

    Mean squared error on targets standardised with the mean and standard deviation
    seen by ``fit`` (or the first ``partial_fit``); predictions are scaled back.
    """
    + _parameters_doc(split="", extra="")
    + """
    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from bertfeat import MLPHeadRegressor
    >>> X, y = make_regression(n_samples=200, n_features=5, random_state=0)
    >>> reg = MLPHeadRegressor(hidden_layer_sizes=(32,), random_state=0).fit(X, y)
    >>> reg.predict(X[:2]).shape
    (2,)
    """
)
