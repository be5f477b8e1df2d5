"""``MLPHeadClassifier``: cross-entropy head for string or integer labels."""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import softmax
from sklearn.base import ClassifierMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from torch.nn import functional as F

from bertfeat.heads._base import _MLPHead, _parameters_doc


class MLPHeadClassifier(ClassifierMixin, _MLPHead):
    _parameter_constraints = {
        **_MLPHead._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }
    _y_options: dict = {}
    _stratify = True

    def __init__(
        self,
        *,
        hidden_layer_sizes=(256,),
        activation="relu",
        dropout=0.1,
        learning_rate=1e-3,
        weight_decay=1e-4,
        batch_size=64,
        max_epochs=100,
        early_stopping=True,
        validation_fraction=0.1,
        patience=5,
        class_weight=None,
        random_state=None,
        device="auto",
        verbose=0,
        callbacks=None,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, dropout=dropout,
            learning_rate=learning_rate, weight_decay=weight_decay, batch_size=batch_size,
            max_epochs=max_epochs, early_stopping=early_stopping,
            validation_fraction=validation_fraction, patience=patience,
            random_state=random_state, device=device, verbose=verbose, callbacks=callbacks,
        )  # fmt: skip
        self.class_weight = class_weight

    def fit(self, X, y):
        """Train from scratch on ``X`` (n_samples, n_features) and labels ``y``."""
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y, classes=None):
        """One epoch over ``(X, y)``, continuing from the current weights.

        ``classes`` (all labels that will ever be seen) is required on the first call.
        """
        if classes is None and not hasattr(self, "classes_"):
            raise ValueError("classes must be passed on the first call to partial_fit")
        return self._fit(X, y, incremental=True, classes=classes)

    def _targets(self, y, *, reset, classes=None):
        if y.dtype == object:
            for i, value in enumerate(y):
                if value is None or (isinstance(value, float) and value != value):
                    raise ValueError(f"y row {i}: missing label ({value!r}); drop or fill it first")
        check_classification_targets(y)
        if reset:
            labels = np.unique(y if classes is None else np.asarray(classes))
            if len(labels) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs at least 2 classes in y; got only 1 class: "
                    f"{labels.tolist()!r}"
                )
            self.classes_, self.n_outputs_ = labels, len(labels)
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes={classes!r} differs from classes_={self.classes_!r}")
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"y holds labels not in classes_ {self.classes_!r}: {unknown[:5]!r}")
        return torch.as_tensor(np.searchsorted(self.classes_, y), dtype=torch.long)

    def _loss_fn(self, y, incremental):
        if self.class_weight is None:
            return F.cross_entropy
        if incremental and self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' needs the whole training set, which partial_fit does "
                "not see; pass a dict, e.g. from sklearn.utils.class_weight.compute_class_weight"
            )
        labels = self.classes_[y.numpy()]
        weight = torch.tensor(compute_class_weight(self.class_weight, classes=self.classes_, y=labels), dtype=torch.float32)

        def weighted(logits, targets):
            return F.cross_entropy(logits, targets, weight=weight.to(logits.device))

        return weighted

    def decision_function(self, X):
        """Logits, shape (n_samples, n_classes); for 2 classes, the positive log-odds."""
        logits = self._raw_output(X)
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order."""
        return softmax(self._raw_output(X).astype(np.float64), axis=1)

    def predict(self, X):
        """The most probable label of each row."""
        logits = self._raw_output(X)
        return self.classes_[np.argmax(logits, axis=1)]


MLPHeadClassifier.__doc__ = (
    """A small torch MLP classifier, to put after a feature extractor in a Pipeline.

    Accepts any float matrix and string or integer labels; cross-entropy loss, AdamW.
    """
    + _parameters_doc(
        split=" (stratified by class when every class has 2 rows or more)",
        extra="""
    class_weight : dict, "balanced" or None, default=None
        Per-class weights of the loss: ``{label: weight}``, or ``"balanced"`` for
        ``n_samples / (n_classes * count)`` (``fit`` only).""",
    )
    + """    classes_ : ndarray
        The sorted class labels.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from bertfeat import MLPHeadClassifier
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> clf = MLPHeadClassifier(hidden_layer_sizes=(32,), random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """
)
