"""``FineTuneTokenClassifier``: fine-tune a BERT-family encoder with a token-classification
head on sentences of words (named entities, any tagging)."""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from bertfeat._batching import resolve_max_length
from bertfeat._device import DTYPES, resolve_device, resolve_dtype
from bertfeat._encode import batch_defaults
from bertfeat._params import validate_params
from bertfeat._store import load_module, load_tokenizer, model_info, resolve_model_path
from bertfeat.tokens._align import align_words
from bertfeat.tokens._export import HEAD, TokenExportMixin
from bertfeat.tokens._spans import TaggerMixin
from bertfeat.tokens._training import is_iob, token_loss, word_scorers
from bertfeat.tokens._words import check_sentences, check_tags
from bertfeat.training.callbacks import (
    CallbackParamsMixin,
    EarlyStopping,
    EpochScoring,
    History,
    ProgressBar,
    named_callbacks,
)


class FineTuneTokenClassifier(TaggerMixin, CallbackParamsMixin, TokenExportMixin, BaseEstimator):
    """The whole transformer fine-tuned with a token-classification head, on words.

    ``X`` is a list of sentences, each a list of words (str); ``y`` a list of tag lists
    of the same lengths (any tag strings; IOB2 such as ``B-PER``, ``I-PER``, ``O`` is the
    usual case). Words are split into sub-tokens by the model's fast tokenizer; a word's
    first sub-token carries its label in training and its prediction. Sentences longer
    than ``max_length`` tokens are read in windows overlapping by ``stride`` sub-tokens,
    each word from the window where it has the most context, so every word gets a real
    prediction.

    Training is :class:`bertfeat.FineTuneClassifier`'s: AdamW (no weight decay on biases
    and LayerNorm weights), linear warmup then decay, gradient clipping, optional
    accumulation, mixed precision on GPU, early stopping on a validation split of the
    sentences, class weights, callbacks.

    Parameters
    ----------
    model : str, path or None, default=None
        Local Hugging Face folder, Hub id, or None for the embedded all-MiniLM-L6-v2.
        It needs a fast tokenizer (``tokenizer.json``).
    max_epochs : int, default=3
        Passes over the training data (fewer when early stopping ends training).
    batch_size : int, default=16
        Windows per forward pass; one optimizer step every
        ``gradient_accumulation_steps`` batches.
    learning_rate : float, default=5e-5
        Peak AdamW learning rate, reached after the warmup.
    weight_decay : float, default=0.01
        AdamW decoupled weight decay (not on biases and LayerNorm weights).
    warmup_ratio : float in [0, 1), default=0.1
        Share of the optimizer steps rising linearly to ``learning_rate``; then linear decay to 0.
    max_grad_norm : float or None, default=1.0
        Clip the global gradient norm to this; None turns clipping off.
    gradient_accumulation_steps : int, default=1
        Batches whose gradients are summed before a step.
    max_length : int or None, default=128
        Tokens per window (special tokens included); None means the model's maximum.
    stride : int, default=32
        Sub-tokens shared by consecutive windows of a long sentence; must be smaller
        than ``max_length`` minus the special tokens.
    validation_fraction : float in (0, 1) or None, default=None
        Share of sentences held out for validation after every epoch (their indices in
        ``validation_index_``). None trains on everything.
    early_stopping_metric : {"loss", "accuracy", "entity_f1"}, default="loss"
        Validation quantity early stopping watches: loss, word accuracy, or entity micro
        F1 (IOB tags only).
    patience : int or None, default=2
        Stop after this many epochs without improvement and restore the best weights
        (only with a validation set). None trains ``max_epochs`` epochs.
    class_weight : None, "balanced" or dict, default=None
        Weights of the tags in the cross-entropy loss ("balanced": inversely proportional
        to tag frequency among the training words).
    device : str, default="auto"
        "auto" (cuda, then mps, then cpu), "cpu", "cuda", "cuda:N" or "mps".
    dtype : {"auto", "float32", "float16", "bfloat16"}, default="auto"
        Autocast precision of forward passes ("auto": bf16 or fp16 on GPU, float32 on CPU).
    random_state : int, RandomState or None, default=None
        Seeds the head, dropout, the validation split and the batch order.
    verbose : int, default=1
        0 is silent; 1 shows a progress bar and one line of metrics per epoch.
    callbacks : list of (str, Callback) pairs or Callback, or None, default=None
        Extra :class:`bertfeat.training.Callback` objects; their parameters are
        ``callbacks__<name>__<param>``.

    Attributes
    ----------
    classes_ : ndarray of str
        Tags, in the order of the head's outputs (``id2label``) and of ``predict_proba``'s columns.
    history_ : list of dict
        One row per epoch (``train_loss``, ``valid_loss``, ``valid_accuracy``,
        ``valid_entity_f1`` with validation, ``lr``, ``seconds``).
    n_iter_ : int
        Epochs trained.
    best_epoch_ : int or None
        Epoch whose weights were kept (early stopping), else None.
    validation_index_ : ndarray of int
        Sentences of ``X`` held out for validation (empty without).
    max_length_ : int
        Tokens per window used in training and prediction.
    model_path_ : str
        Folder of the base model.

    Examples
    --------
    >>> tagger = FineTuneTokenClassifier(max_epochs=5, random_state=0)  # doctest: +SKIP
    >>> tagger.fit([["Ann", "lives", "in", "Rome"]] * 50, [["B-PER", "O", "O", "B-LOC"]] * 50)  # doctest: +SKIP
    >>> tagger.predict([["Bob", "is", "in", "Oslo"]])  # doctest: +SKIP
    >>> tagger.save_pretrained("my-tagger")  # doctest: +SKIP
    """

    _METRICS = {"loss": True, "accuracy": False, "entity_f1": False}
    _parameter_constraints: dict = {
        "model": [str, os.PathLike, None],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "warmup_ratio": [Interval(Real, 0, 1, closed="left")],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "gradient_accumulation_steps": [Interval(Integral, 1, None, closed="left")],
        "max_length": [Interval(Integral, 3, None, closed="left"), None],
        "stride": [Interval(Integral, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "early_stopping_metric": [StrOptions(set(_METRICS))],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "device": [str],
        "dtype": [StrOptions(set(DTYPES))],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [list, tuple, None],
    }

    def __init__(
        self,
        *,
        model=None,
        max_epochs=3,
        batch_size=16,
        learning_rate=5e-5,
        weight_decay=0.01,
        warmup_ratio=0.1,
        max_grad_norm=1.0,
        gradient_accumulation_steps=1,
        max_length=128,
        stride=32,
        validation_fraction=None,
        early_stopping_metric="loss",
        patience=2,
        class_weight=None,
        device="auto",
        dtype="auto",
        random_state=None,
        verbose=1,
        callbacks=None,
    ):
        self.model = model
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.max_grad_norm = max_grad_norm
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.max_length = max_length
        self.stride = stride
        self.validation_fraction = validation_fraction
        self.early_stopping_metric = early_stopping_metric
        self.patience = patience
        self.class_weight = class_weight
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    def _check_params(self) -> None:
        """The declared constraints, the callbacks, and a class_weight dict's values."""
        validate_params(self)
        named_callbacks(self.callbacks)
        weights = self.class_weight
        if isinstance(weights, dict) and not all(
            isinstance(w, Real) and not isinstance(w, bool) and w > 0 for w in weights.values()
        ):
            raise ValueError(f"class_weight={weights!r} is not valid; expected None, 'balanced' or {{tag: positive weight}}")

    def _resolve_lengths(self, info: dict, tokenizer) -> None:
        """``max_length_`` from the model; refuse a stride that would not move windows forward."""
        self.max_length_, n_special = resolve_max_length(self.max_length, info["max_length"], tokenizer, False)
        room = self.max_length_ - n_special
        if self.stride >= room:
            raise ValueError(
                f"stride={self.stride} must be smaller than max_length minus special tokens ({room}) "
                "so that windows move forward"
            )

    # -- fit -------------------------------------------------------------------------
    def fit(self, X, y):
        """Fine-tune the transformer with a token-classification head.

        Parameters
        ----------
        X : list of list of str
            Sentences, each a list of words.
        y : list of list of str
            Tags, one per word of ``X``.

        Returns
        -------
        self
        """
        import torch

        from bertfeat.training.data import TokenLabelData
        from bertfeat.training.loop import LoopConfig, fit_loop, make_optimizer, steps_per_epoch

        self._check_params()
        sentences = check_sentences(X)
        tags = check_tags(y, sentences)
        classes, codes = np.unique(np.concatenate([np.asarray(t, dtype=str) for t in tags]), return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"y holds a single tag ({classes[0]!r}); a tagger needs at least 2")
        if self.early_stopping_metric == "entity_f1" and not is_iob(classes):
            raise ValueError("early_stopping_metric='entity_f1' needs IOB tags ('O', 'B-X', 'I-X'); use 'loss' or 'accuracy'")
        device = resolve_device(self.device)
        runtime_dtype = resolve_dtype(self.dtype, device)
        folder = resolve_model_path(self.model)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        train_index, valid_index = self._split(len(sentences), seed)
        word_codes = np.split(codes.astype(np.int64), np.cumsum([len(t) for t in tags])[:-1])
        forked = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=forked):
            torch.manual_seed(seed)
            labels = {i: str(c) for i, c in enumerate(classes)}
            module = load_module(
                folder, HEAD, fresh_head=True, num_labels=len(classes), id2label=labels,
                label2id={c: i for i, c in labels.items()},
            )
            tokenizer = load_tokenizer(folder)
            info = model_info(module.config, module.base_model, tokenizer)
            self._resolve_lengths(info, tokenizer)
            runtime = self._runtime(tokenizer, device, runtime_dtype)

            def data(index, generator=None):
                windows = align_words(tokenizer, [sentences[i] for i in index], self.max_length_, self.stride, info["token_types"])
                part_codes = np.concatenate([word_codes[i] for i in index])
                return TokenLabelData.from_labels(windows.tokenized, windows.labels(part_codes), runtime, generator), windows

            train, _ = data(train_index, torch.Generator().manual_seed(seed))
            valid, valid_windows = data(valid_index) if len(valid_index) else (None, None)
            module.to(device)
            config = LoopConfig(
                max_epochs=int(self.max_epochs),
                batch_size=int(self.batch_size),
                device=device,
                dtype=runtime_dtype,
                accumulation=int(self.gradient_accumulation_steps),
                max_grad_norm=None if self.max_grad_norm is None else float(self.max_grad_norm),
            )
            steps = steps_per_epoch(train.n_batches(config.batch_size), config.accumulation) * config.max_epochs
            optimizer, scheduler = make_optimizer(
                module, float(self.learning_rate), float(self.weight_decay), steps, float(self.warmup_ratio)
            )
            self.classes_ = classes
            train_codes = np.concatenate([word_codes[i] for i in train_index])
            callbacks, history = self._make_callbacks(valid_windows)
            loss = token_loss(self.classes_, self.class_weight, train_codes)
            state = fit_loop(module, train, valid, loss, config, optimizer, scheduler, callbacks)
        self._module, self._tokenizer, self._info = module, tokenizer, info
        self.model_path_ = str(folder)
        self.history_ = history.rows
        self.n_iter_ = state.epoch
        self.best_epoch_ = state.best_epoch
        self.validation_index_ = np.sort(valid_index)
        return self

    def _split(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Sentences to train on and to validate on (random, by sentence)."""
        everything = np.arange(n)
        if self.validation_fraction is None:
            return everything, everything[:0]
        try:
            train, valid = train_test_split(everything, test_size=self.validation_fraction, random_state=seed)
        except ValueError as exc:
            raise ValueError(
                f"validation_fraction={self.validation_fraction!r} cannot hold out a validation set from {n} sentences: {exc}"
            ) from exc
        return np.asarray(train), np.asarray(valid)

    def _make_callbacks(self, valid_windows):
        """Scoring and early stopping (with validation), history, progress, then the user's."""
        callbacks = []
        if valid_windows is not None:
            scorers = word_scorers(self.classes_, valid_windows)
            callbacks = [EpochScoring(name, fn) for name, fn in scorers.items()]
            if self.patience is not None:
                metric = self.early_stopping_metric
                callbacks.append(EarlyStopping(f"valid_{metric}", int(self.patience), self._METRICS[metric]))
        history = History()
        callbacks.append(history)
        if self.verbose:
            callbacks.append(ProgressBar())
        return callbacks + [callback for _, callback in named_callbacks(self.callbacks)], history

    @staticmethod
    def _runtime(tokenizer, device, dtype):
        from bertfeat.training.data import Runtime

        batch, budget = batch_defaults(device)
        return Runtime(device, dtype, tokenizer.pad_token_id or 0, batch, budget)

    # -- inference -------------------------------------------------------------------
    def _word_logits(self, X) -> tuple[np.ndarray, object]:
        """Logits of every word ``(n_words, n_tags)`` and the windows they came from."""
        from bertfeat.training.data import predict_token_logits

        check_is_fitted(self, "classes_")
        sentences = check_sentences(X)
        device = resolve_device(self.device)
        module = self._module.to(device).eval()
        runtime = self._runtime(self._tokenizer, device, resolve_dtype(self.dtype, device))
        windows = align_words(self._tokenizer, sentences, self.max_length_, self.stride, self._info["token_types"])
        logits = predict_token_logits(module, windows.tokenized, runtime, windows.window, windows.position)
        return logits.numpy(), windows

    def predict_proba(self, X) -> list[np.ndarray]:
        """Tag probabilities of each word: one ``(n_words, n_tags)`` array per sentence,
        columns in the order of ``classes_`` (rows sum to 1)."""
        import torch

        logits, windows = self._word_logits(X)
        proba = torch.softmax(torch.from_numpy(logits).double(), dim=1).numpy()
        return windows.split(proba)

    def predict(self, X) -> list[list[str]]:
        """One tag per word: a list of tag lists, in the shape of ``X``."""
        logits, windows = self._word_logits(X)
        tags = self.classes_[logits.argmax(1)]
        return [part.tolist() for part in windows.split(tags)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.device != "cpu"
        return tags
