"""``FineTuneClassifier``: fine-tune a BERT-family encoder with a classification head."""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score, f1_score
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import type_of_target

from bertfeat._inputs import check_classification_y
from bertfeat.finetune.base import FineTuneBase


class FineTuneClassifier(ClassifierMixin, FineTuneBase):
    """The whole transformer fine-tuned with a classification head, as one estimator.

    ``fit`` builds ``AutoModelForSequenceClassification`` on the encoder of ``model``
    and trains every weight with AdamW (no weight decay on biases and LayerNorm
    weights), a linear warmup then linear decay, gradient clipping, optional gradient
    accumulation, mixed precision on GPU and length-grouped dynamic padding. With
    ``validation_fraction`` a stratified part of the data is held out to stop early
    and keep the best epoch.

    ``y`` may hold string or integer labels (``classes_``), or a binary indicator
    matrix ``(n_samples, n_labels)`` for multi-label problems (sigmoid outputs, binary
    cross-entropy; ``predict`` returns the indicator matrix).

    Parameters
    ----------
    model : str, path or None, default=None
        Local Hugging Face folder, Hub id, or None for the embedded all-MiniLM-L6-v2.
        A folder that already has a head of the right size keeps it (further training).
    max_epochs : int, default=3
        Passes over the training data (fewer when early stopping ends training).
    batch_size : int, default=32
        Rows per forward pass; one optimizer step every
        ``gradient_accumulation_steps`` batches.
    learning_rate : float, default=5e-5
        Peak AdamW learning rate, reached after the warmup.
    weight_decay : float, default=0.01
        AdamW decoupled weight decay (not on biases and LayerNorm weights).
    warmup_ratio : float in [0, 1), default=0.1
        Share of all optimizer steps spent rising linearly from 0 to ``learning_rate``;
        it then falls linearly to 0 at the last step.
    max_grad_norm : float or None, default=1.0
        Clip the global gradient norm to this; None turns clipping off.
    gradient_accumulation_steps : int, default=1
        Batches whose gradients are summed before a step (a larger effective batch).
    max_length : int or None, default=128
        Tokens per row (special tokens included); longer rows keep their head.
        None means the model's maximum.
    validation_fraction : float in (0, 1) or None, default=None
        Share of rows held out (stratified) for validation after every epoch; the
        held-out rows are in ``validation_index_``. None trains on everything.
    early_stopping_metric : {"loss", "accuracy", "f1_macro"}, default="loss"
        Validation quantity that early stopping watches.
    patience : int or None, default=2
        Stop after this many epochs without improvement and restore the best weights
        (only with a validation set). None trains ``max_epochs`` epochs and keeps the
        last weights.
    class_weight : None, "balanced" or dict, default=None
        Weights of the classes in the cross-entropy loss ("balanced": inversely
        proportional to class frequency). Not for multi-label ``y``.
    pooling : {"mean", "cls", "max", "pooler"}, default="mean"
        How :meth:`transform` pools the fine-tuned encoder's token states.
    device : str, default="auto"
        "auto" (cuda, then mps, then cpu), "cpu", "cuda", "cuda:N" or "mps".
    dtype : {"auto", "float32", "float16", "bfloat16"}, default="auto"
        Autocast precision of forward passes; weights stay float32. "auto" is bf16
        (or fp16 with a gradient scaler) on GPU and float32 on CPU.
    random_state : int, RandomState or None, default=None
        Seeds the head's initialisation, dropout, the validation split and the batch
        order: with an int, CPU training is deterministic.
    verbose : int, default=1
        0 is silent; 1 shows a progress bar per epoch and one line of metrics per epoch.
    callbacks : list of (str, Callback) pairs or Callback, or None, default=None
        Extra :class:`bertfeat.training.Callback` objects, called after the built-in
        ones; a bare callback is named after its class. Their parameters are this
        estimator's ``callbacks__<name>__<param>`` (``get_params``, ``set_params``,
        grid search), as in skorch.

    Attributes
    ----------
    classes_ : ndarray
        Labels, in the order of the head's outputs (``id2label``); for multi-label
        ``y``, the column indices.
    multilabel_ : bool
        Whether ``y`` was a binary indicator matrix.
    history_ : list of dict
        One row per epoch: ``epoch``, ``train_loss``, ``valid_loss``,
        ``valid_accuracy``, ``valid_f1_macro`` (with validation), ``lr``, ``seconds``.
    n_iter_ : int
        Epochs trained.
    best_epoch_ : int or None
        Epoch whose weights were kept (early stopping), else None.
    validation_index_ : ndarray of int
        Rows of ``X`` held out for validation (empty without).
    n_features_in_ : int
        1 for texts, 2 for sentence pairs.
    n_features_out_ : int
        Size of :meth:`transform`'s vectors.
    max_length_ : int
        Tokens per row used in training and prediction.
    model_path_ : str
        Folder of the base model.

    Examples
    --------
    >>> clf = FineTuneClassifier(max_epochs=2, random_state=0)  # doctest: +SKIP
    >>> clf.fit(["i love it", "i hate it"] * 8, ["pos", "neg"] * 8)  # doctest: +SKIP
    >>> clf.predict(["what a joy"])  # doctest: +SKIP
    >>> clf.save_pretrained("my-model")  # doctest: +SKIP
    """

    _METRICS = {"loss": True, "accuracy": False, "f1_macro": False}
    _PROBLEM_TYPES = ("single_label_classification", "multi_label_classification")
    _parameter_constraints = {
        **FineTuneBase._parameter_constraints,
        "early_stopping_metric": [StrOptions(set(_METRICS))],
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
        model=None,
        *,
        max_epochs=3,
        batch_size=32,
        learning_rate=5e-5,
        weight_decay=0.01,
        warmup_ratio=0.1,
        max_grad_norm=1.0,
        gradient_accumulation_steps=1,
        max_length=128,
        validation_fraction=None,
        early_stopping_metric="loss",
        patience=2,
        class_weight=None,
        pooling="mean",
        device="auto",
        dtype="auto",
        random_state=None,
        verbose=1,
        callbacks=None,
    ):
        super().__init__(
            model,
            max_epochs=max_epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            warmup_ratio=warmup_ratio,
            max_grad_norm=max_grad_norm,
            gradient_accumulation_steps=gradient_accumulation_steps,
            max_length=max_length,
            validation_fraction=validation_fraction,
            early_stopping_metric=early_stopping_metric,
            patience=patience,
            pooling=pooling,
            device=device,
            dtype=dtype,
            random_state=random_state,
            verbose=verbose,
            callbacks=callbacks,
        )
        self.class_weight = class_weight

    def _check_params(self) -> None:
        super()._check_params()
        weights = self.class_weight  # a dict's values: beyond what constraints express
        if isinstance(weights, dict) and not all(
            isinstance(w, Real) and not isinstance(w, bool) and w > 0 for w in weights.values()
        ):
            raise ValueError(
                f"class_weight={weights!r} is not valid; expected None, 'balanced' or a dict "
                "{label: positive weight}"
            )

    # -- targets -------------------------------------------------------------------
    def _prepare_targets(self, y, n_rows: int):
        """Codes (or the indicator matrix) to train on, and the head's label names."""
        self.__dict__.pop("multilabel_", None)
        if y is not None and np.ndim(y) == 2 and np.shape(y)[1] > 1 and type_of_target(y) == "multilabel-indicator":
            y = np.asarray(y)
            if len(y) != n_rows:
                raise ValueError(f"X has {n_rows} rows but y has {len(y)}; they must match")
            if self.class_weight is not None:
                raise ValueError("class_weight is not supported for multi-label y (a binary indicator matrix); use None")
            self.classes_ = np.arange(y.shape[1])
            self.multilabel_ = True
            return y.astype(np.float32), [str(c) for c in self.classes_]
        labels = check_classification_y(y, n_rows)
        self.classes_, codes = np.unique(labels, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y holds a single class ({self.classes_[0]!r}); a classifier needs at least 2")
        self.multilabel_ = False
        return codes.astype(np.int64), [str(c) for c in self.classes_]

    def _num_labels(self, targets) -> int:
        return len(self.classes_)

    def _problem_type(self) -> str:
        return "multi_label_classification" if self.multilabel_ else "single_label_classification"

    def _stratify(self, targets):
        return None if self.multilabel_ else targets

    def _loss(self, train_targets):
        import torch
        import torch.nn.functional as F

        if self.multilabel_:
            return F.binary_cross_entropy_with_logits
        weight = None
        if self.class_weight is not None:
            codes = np.arange(len(self.classes_))
            weights = self.class_weight
            if isinstance(weights, dict):
                unknown = set(weights) - set(self.classes_.tolist())
                if unknown:
                    raise ValueError(f"class_weight names labels not in y: {sorted(map(repr, unknown))}")
                weights = {i: float(weights.get(c, 1.0)) for i, c in enumerate(self.classes_.tolist())}
            weight = torch.tensor(compute_class_weight(weights, classes=codes, y=train_targets), dtype=torch.float32)

        def loss(logits, targets):
            return F.cross_entropy(logits, targets, weight=None if weight is None else weight.to(logits.device))

        return loss

    def _scorers(self) -> dict:
        def decide(logits):
            return (logits > 0).int().numpy() if self.multilabel_ else logits.argmax(1).numpy()

        return {
            "accuracy": lambda logits, y: accuracy_score(y.numpy(), decide(logits)),
            "f1_macro": lambda logits, y: f1_score(y.numpy(), decide(logits), average="macro", zero_division=0),
        }

    def _target_meta(self) -> dict:
        return {"classes": self.classes_.tolist(), "multilabel": bool(self.multilabel_)}

    def _restore_targets(self, config, meta: dict) -> None:
        if "classes" in meta:
            self.classes_ = np.asarray(meta["classes"])
        else:
            self.classes_ = np.asarray([config.id2label[i] for i in range(config.num_labels)])
        self.multilabel_ = meta.get("multilabel", config.problem_type == "multi_label_classification")

    # -- predictions -----------------------------------------------------------------
    def decision_function(self, X):
        """Logits ``(n_samples, n_classes)``; for two classes, the log-odds of
        ``classes_[1]`` ``(n_samples,)`` as scikit-learn expects."""
        logits = self._logits(X)
        if len(self.classes_) == 2 and not self.multilabel_:
            return logits[:, 1] - logits[:, 0]
        return logits

    def predict_proba(self, X):
        """Class probabilities (softmax; rows sum to 1), or per-label sigmoids for multi-label."""
        import torch

        logits = torch.from_numpy(self._logits(X)).double()
        proba = torch.sigmoid(logits) if self.multilabel_ else torch.softmax(logits, dim=1)
        return proba.numpy()

    def predict(self, X):
        """Labels from ``classes_`` (an indicator matrix for multi-label)."""
        logits = self._logits(X)
        if self.multilabel_:
            return (logits > 0).astype(np.int64)
        return self.classes_[logits.argmax(1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
