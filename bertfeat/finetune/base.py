"""What the fine-tuning classifier and regressor share: parameters, ``fit``, inference
and ``transform`` (export and pickling come from :mod:`bertfeat.finetune.export`). The
subclasses only say what the targets are.
"""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from bertfeat._batching import resolve_max_length, tokenize
from bertfeat._device import DTYPES, resolve_device, resolve_dtype
from bertfeat._encode import EncodeOptions, batch_defaults, encode_stream, stream_chunk
from bertfeat._inputs import check_input_form, check_texts
from bertfeat._params import validate_params
from bertfeat._pipeline import chunk_bounds, stream_chunks
from bertfeat._pooling import POOLINGS
from bertfeat._store import from_module, load_tokenizer, model_info, resolve_model_path
from bertfeat.finetune.export import ExportMixin
from bertfeat.finetune.hf import build_module
from bertfeat.training.callbacks import (
    CallbackParamsMixin,
    EarlyStopping,
    EpochScoring,
    History,
    ProgressBar,
    named_callbacks,
)


class FineTuneBase(CallbackParamsMixin, ExportMixin, BaseEstimator):
    """Shared machinery; use :class:`FineTuneClassifier` or :class:`FineTuneRegressor`.

    Subclasses define ``_METRICS`` (allowed ``early_stopping_metric`` values, with
    whether lower is better), ``_PROBLEM_TYPES``, and the target hooks
    ``_prepare_targets`` (y to an array to train on, plus label names),
    ``_num_labels``, ``_problem_type``, ``_stratify``, ``_loss``, ``_scorers``,
    ``_target_meta`` and ``_restore_targets`` (for export).
    """

    _METRICS: dict[str, bool] = {"loss": True}
    _PROBLEM_TYPES: tuple[str, ...] = ()

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
        pooling="mean",
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
        self.validation_fraction = validation_fraction
        self.early_stopping_metric = early_stopping_metric
        self.patience = patience
        self.pooling = pooling
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    # -- parameters ----------------------------------------------------------------
    _parameter_constraints: dict = {
        "model": [str, os.PathLike, None],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "warmup_ratio": [Interval(Real, 0, 1, closed="left")],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "gradient_accumulation_steps": [Interval(Integral, 1, None, closed="left")],
        "max_length": [Interval(Integral, 2, None, closed="left"), None],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "early_stopping_metric": [StrOptions({"loss"})],  # each subclass lists its metrics
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "pooling": [StrOptions(set(POOLINGS))],
        "device": [str],
        "dtype": [StrOptions(set(DTYPES))],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [list, tuple, None],
    }

    def _check_params(self) -> None:
        """Every parameter that can be checked without the model: the declared
        constraints, then the callbacks' names and types."""
        validate_params(self)
        named_callbacks(self.callbacks)

    # -- fit -------------------------------------------------------------------------
    def fit(self, X, y):
        """Fine-tune the whole transformer with a task head on ``X``, ``y``.

        Parameters
        ----------
        X : sequence of str, or of (str, str) pairs
            Texts, or sentence pairs (a list of tuples, an ``(n, 2)`` array or a
            2-column DataFrame).
        y : array-like
            Targets (see the subclass).

        Returns
        -------
        self
        """
        import torch  # torch and the loop are heavy: imported when training starts

        from bertfeat.training.data import TokenData
        from bertfeat.training.loop import LoopConfig, fit_loop, make_optimizer, steps_per_epoch

        self._check_params()
        inputs = check_texts(X)
        targets, labels = self._prepare_targets(y, len(inputs))
        device = resolve_device(self.device)
        runtime_dtype = resolve_dtype(self.dtype, device)
        folder = resolve_model_path(self.model)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        train_index, valid_index = self._split(targets, seed)
        forked = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=forked):
            torch.manual_seed(seed)
            module = build_module(folder, self._num_labels(targets), self._problem_type(), labels)
            tokenizer = load_tokenizer(folder)
            info = model_info(module.config, module.base_model, tokenizer)
            self._check_model_params(info, tokenizer, inputs.is_pair)
            tokenized = tokenize(tokenizer, inputs.items, inputs.is_pair, self.max_length_, "head", 0, info["token_types"])
            target_tensor = torch.from_numpy(targets)
            runtime = self._runtime(tokenizer, device, runtime_dtype, info)
            generator = torch.Generator().manual_seed(seed)
            train = TokenData.take(tokenized, target_tensor, train_index, runtime, generator)
            valid = TokenData.take(tokenized, target_tensor, valid_index, runtime) if len(valid_index) else None
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
            callbacks, history = self._make_callbacks(valid is not None)
            state = fit_loop(module, train, valid, self._loss(targets[train_index]), config, optimizer, scheduler, callbacks)
        self._module, self._tokenizer, self._info = module, tokenizer, info
        self.model_path_ = str(folder)
        self.n_features_in_ = inputs.n_features
        if inputs.feature_names is not None:
            self.feature_names_in_ = inputs.feature_names
        else:
            self.__dict__.pop("feature_names_in_", None)
        self.history_ = history.rows
        self.n_iter_ = state.epoch
        self.best_epoch_ = state.best_epoch
        self.validation_index_ = np.sort(valid_index)
        self.n_features_out_ = info["hidden_size"]
        return self

    def _split(self, targets: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        n = len(targets)
        everything = np.arange(n)
        if self.validation_fraction is None:
            return everything, everything[:0]
        try:
            train, valid = train_test_split(
                everything, test_size=self.validation_fraction, random_state=seed, stratify=self._stratify(targets)
            )
        except ValueError as exc:
            raise ValueError(
                f"validation_fraction={self.validation_fraction!r} cannot hold out a validation set "
                f"from {n} rows: {exc}"
            ) from exc
        return np.asarray(train), np.asarray(valid)

    def _check_model_params(self, info: dict, tokenizer, is_pair: bool) -> None:
        """Checks that need the model: maximum length, pooler."""
        if self.pooling == "pooler" and not info["has_pooler"]:
            raise ValueError("pooling='pooler' but this model has no pooler; use 'cls', 'mean' or 'max'")
        self.max_length_, _ = resolve_max_length(self.max_length, info["max_length"], tokenizer, is_pair)

    def _make_callbacks(self, validating: bool):
        """The built-in callbacks (from the parameters), then the user's, in their order."""
        callbacks = [EpochScoring(name, fn) for name, fn in self._scorers().items()] if validating else []
        if validating and self.patience is not None:
            metric = self.early_stopping_metric
            callbacks.append(EarlyStopping(f"valid_{metric}", int(self.patience), self._METRICS[metric]))
        history = History()
        callbacks.append(history)
        if self.verbose:
            callbacks.append(ProgressBar())
        return callbacks + [callback for _, callback in named_callbacks(self.callbacks)], history

    @staticmethod
    def _runtime(tokenizer, device, dtype, info=None):
        from bertfeat.training.data import Runtime

        batch, budget = batch_defaults(device, info)
        return Runtime(device, dtype, tokenizer.pad_token_id or 0, batch, budget)

    # -- inference -------------------------------------------------------------------
    def _ready(self):
        """The fitted module on ``device`` in eval mode, and how to run it."""
        check_is_fitted(self, "n_features_in_")
        device = resolve_device(self.device)
        module = self._module.to(device).eval()
        return module, self._runtime(self._tokenizer, device, resolve_dtype(self.dtype, device), self._info)

    def _inputs(self, X):
        inputs = check_texts(X)
        check_input_form(inputs, self.n_features_in_, getattr(self, "feature_names_in_", None), "estimator")
        return inputs

    def _logits(self, X) -> np.ndarray:
        """Raw head outputs, float32 ``(n_samples, num_labels)``: chunks tokenized one ahead
        in a thread, sorted batches collated on the device (as ``transform``)."""
        from bertfeat._run import to_host
        from bertfeat.training.data import predict_logits

        module, runtime = self._ready()
        inputs = self._inputs(X)
        items, is_pair = inputs.items, inputs.is_pair
        out = np.empty((len(items), module.config.num_labels), dtype=np.float32)

        def tokenize_chunk(bounds):
            chunk = items[bounds[0] : bounds[1]]
            return tokenize(self._tokenizer, chunk, is_pair, self.max_length_, "head", 0, self._info["token_types"])

        for start, logits in stream_chunks(
            chunk_bounds(len(items), stream_chunk(runtime.device)),
            tokenize_chunk,
            lambda tokenized, _: to_host(predict_logits(module, tokenized, runtime)),
            lambda result: result.get(),
            defer=runtime.device.type == "cuda",
        ):
            out[start : start + len(logits)] = logits
        return out

    def transform(self, X):
        """Pooled features of the fine-tuned encoder, float32 ``(n_samples, n_features_out_)``.

        ``pooling`` picks how token states become one vector (mean by default), as in
        :class:`bertfeat.BertVectorizer`; feed them to any other model.
        """
        module, runtime = self._ready()
        inputs = self._inputs(X)
        out = np.empty((len(inputs), self.n_features_out_), dtype=np.float32)
        encoder = from_module(module, self._tokenizer, self.model_path_, runtime.device, runtime.dtype)
        options = EncodeOptions(
            self.pooling, None, "mean", False, self.max_length_, "head", 0, runtime.eval_batch_size, runtime.eval_token_budget
        )
        for start, vectors in encode_stream(encoder, inputs.items, inputs.is_pair, options):
            out[start : start + len(vectors)] = vectors
        return out

    # -- scikit-learn tags ---------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Texts (1-D sequence of str) or two string columns for pairs; not numbers.
        tags.input_tags.string = True
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        # With an int random_state, CPU training is bitwise reproducible; GPU kernels are not.
        tags.non_deterministic = self.device != "cpu"
        return tags

