"""``ContrastiveClassifier``: SetFit-style few-label classification as one estimator."""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from bertfeat._batching import resolve_max_length, tokenize
from bertfeat._device import DTYPES, resolve_device, resolve_dtype
from bertfeat._encode import EncodeOptions, batch_defaults, encode_stream
from bertfeat._inputs import check_classification_y, check_input_form, check_texts
from bertfeat._params import validate_params
from bertfeat._store import from_module, load_module, load_tokenizer, model_info, resolve_model_path
from bertfeat.contrastive.export import ContrastiveExportMixin
from bertfeat.contrastive.pairs import make_pairs
from bertfeat.training.callbacks import CallbackParamsMixin, History, ProgressBar, named_callbacks

POOLINGS = ("mean", "cls", "max")  # those sentence-transformers' Pooling can express
WEIGHT_DECAY, WARMUP_RATIO, MAX_GRAD_NORM = 0.01, 0.1, 1.0  # sentence-transformers' fit defaults


def _head_has(method: str):
    """``available_if`` check: the (fitted, else configured) head has ``method``."""

    def check(self) -> bool:
        head = getattr(self, "head_", None)
        if head is None:
            head = LogisticRegression() if self.head is None else self.head
        return hasattr(head, method)

    return check


class ContrastiveClassifier(ContrastiveExportMixin, CallbackParamsMixin, ClassifierMixin, BaseEstimator):
    """Few-label text classification: contrastive fine-tuning of a sentence encoder, then
    a head on its vectors (the SetFit recipe, as a scikit-learn estimator).

    ``fit`` draws pairs of training texts from the labels (``n_iterations`` same-class and
    ``n_iterations`` other-class partners per text: linear in the data), fine-tunes the
    whole encoder so that the cosine similarity of a pair's pooled vectors approaches 1
    for same-class and 0 for other-class pairs (mean squared error, sentence-transformers'
    ``CosineSimilarityLoss``), then fits ``head`` on the tuned encoder's vectors of the
    training texts. Training runs in bertfeat's one training loop (AdamW, 10% linear
    warmup then linear decay, gradient clipping at 1, mixed precision on a GPU).

    ``X`` is single texts. Sentence pairs are refused: the pairs here are made from the
    labels; for pair classification use ``BertVectorizer(pair_mode="bi")`` with a head,
    or :class:`FineTuneClassifier`.

    Parameters
    ----------
    model : str, path or None, default=None
        Local Hugging Face folder, Hub id, or None for the embedded all-MiniLM-L6-v2
        (a sentence encoder: the recipe works best from one).
    head : classifier or None, default=None
        A scikit-learn classifier fitted on the tuned vectors (cloned at fit); None is
        ``LogisticRegression()``. Its parameters are ``head__<param>``.
    n_iterations : int, default=20
        Positive and negative partners per training text: ``2 * n_iterations * n_samples``
        pairs per epoch.
    max_epochs : int, default=1
        Passes over the pairs.
    batch_size : int, default=16
        Pairs per optimizer step.
    learning_rate : float, default=2e-5
        Peak AdamW learning rate.
    pooling : {"mean", "cls", "max"}, default="mean"
        How token states become the vector that is tuned, transformed and given to the head.
    max_length : int or None, default=128
        Tokens per text (special tokens included); longer texts keep their head. None
        means the model's maximum.
    device : str, default="auto"
        "auto" (cuda, then mps, then cpu), "cpu", "cuda", "cuda:N" or "mps".
    dtype : {"auto", "float32", "float16", "bfloat16"}, default="auto"
        Autocast precision of forward passes ("auto": bf16 or fp16 on a GPU, float32 on CPU).
    random_state : int, RandomState or None, default=None
        Seeds the pairs, their order and dropout: with an int, fitting on the CPU is
        deterministic (the head keeps its own ``random_state``).
    progress : bool, default=True
        A progress bar over the training steps.
    callbacks : list of (str, Callback) pairs or Callback, or None, default=None
        Extra :class:`bertfeat.training.Callback` objects for the training loop
        (``callbacks__<name>__<param>``).

    Attributes
    ----------
    classes_ : ndarray
        The labels.
    head_ : classifier
        The fitted head.
    n_pairs_ : int
        Pairs per epoch.
    history_ : list of dict
        One row per epoch (``epoch``, ``train_loss``, ``lr``, ``seconds``).
    n_iter_ : int
        Epochs trained.
    n_features_in_ : int
        1 (texts).
    n_features_out_ : int
        Size of :meth:`transform`'s vectors.
    max_length_ : int
        Tokens per text.
    model_path_ : str
        Folder of the base model.

    Examples
    --------
    >>> clf = ContrastiveClassifier(random_state=0)  # doctest: +SKIP
    >>> clf.fit(texts_16_per_class, labels).predict(["what a joy"])  # doctest: +SKIP
    >>> clf.save_pretrained("my-setfit")  # a sentence-transformers folder + head  # doctest: +SKIP
    """

    _parameter_constraints: dict = {
        "model": [str, os.PathLike, None],
        "head": [HasMethods(["fit", "predict"]), None],
        "n_iterations": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "pooling": [StrOptions(set(POOLINGS))],
        "max_length": [Interval(Integral, 2, None, closed="left"), None],
        "device": [str],
        "dtype": [StrOptions(set(DTYPES))],
        "random_state": ["random_state"],
        "progress": ["boolean"],
        "callbacks": [list, tuple, None],
    }

    def __init__(
        self,
        model=None,
        *,
        head=None,
        n_iterations=20,
        max_epochs=1,
        batch_size=16,
        learning_rate=2e-5,
        pooling="mean",
        max_length=128,
        device="auto",
        dtype="auto",
        random_state=None,
        progress=True,
        callbacks=None,
    ):
        self.model = model
        self.head = head
        self.n_iterations = n_iterations
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.pooling = pooling
        self.max_length = max_length
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.progress = progress
        self.callbacks = callbacks

    def _check_params(self) -> None:
        validate_params(self)
        named_callbacks(self.callbacks)

    def _texts(self, X, fitted: bool):
        inputs = check_texts(X)
        if inputs.is_pair:
            raise ValueError(
                "ContrastiveClassifier classifies single texts, but X holds sentence pairs (two columns); "
                "its training pairs are made from the labels. For pairs use "
                "make_pipeline(BertVectorizer(pair_mode='bi'), LogisticRegression()) or FineTuneClassifier"
            )
        if fitted:
            check_input_form(inputs, self.n_features_in_, getattr(self, "feature_names_in_", None), "estimator")
        return inputs

    # -- fit -------------------------------------------------------------------------
    def fit(self, X, y):
        """Tune the encoder on pairs made from ``y``, then fit the head on its vectors.

        Parameters
        ----------
        X : sequence of str
            Texts (a list, 1-D array, Series or one-column DataFrame).
        y : array-like of shape (n_samples,)
            Labels (strings or integers), at least two classes.

        Returns
        -------
        self
        """
        import torch  # torch and the loop are heavy: imported when training starts

        from bertfeat.training.data import PairData, Runtime
        from bertfeat.training.loop import LoopConfig, fit_loop, make_optimizer

        self._check_params()
        inputs = self._texts(X, fitted=False)
        labels = check_classification_y(y, len(inputs))
        classes, codes = np.unique(labels, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"y holds a single class ({classes[0]!r}); a classifier needs at least 2")
        device = resolve_device(self.device)
        runtime_dtype = resolve_dtype(self.dtype, device)
        folder = resolve_model_path(self.model)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        pairs, similar = make_pairs(codes, int(self.n_iterations), np.random.RandomState(seed))
        forked = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=forked):
            torch.manual_seed(seed)  # dropout masks
            module = load_module(folder, "encoder")
            tokenizer = load_tokenizer(folder)
            info = model_info(module.config, module, tokenizer)
            self.max_length_, _ = resolve_max_length(self.max_length, info["max_length"], tokenizer, False)
            tokenized = tokenize(tokenizer, inputs.items, False, self.max_length_, "head", 0, info["token_types"])
            batch, budget = batch_defaults(device)
            runtime = Runtime(device, runtime_dtype, tokenizer.pad_token_id or 0, batch, budget)
            generator = torch.Generator().manual_seed(seed)
            train = PairData(tokenized, pairs, torch.from_numpy(similar), runtime, self.pooling, generator)
            module.to(device)
            config = LoopConfig(int(self.max_epochs), int(self.batch_size), device, runtime_dtype, 1, MAX_GRAD_NORM)
            steps = train.n_batches(config.batch_size) * config.max_epochs
            optimizer, scheduler = make_optimizer(module, float(self.learning_rate), WEIGHT_DECAY, steps, WARMUP_RATIO)
            callbacks = [History()] + ([ProgressBar()] if self.progress else [])
            callbacks += [callback for _, callback in named_callbacks(self.callbacks)]
            state = fit_loop(module, train, None, torch.nn.functional.mse_loss, config, optimizer, scheduler, callbacks)
        self._module, self._tokenizer, self._info = module, tokenizer, info
        self.model_path_ = str(folder)
        self.n_features_in_ = inputs.n_features
        if inputs.feature_names is not None:
            self.feature_names_in_ = inputs.feature_names
        else:
            self.__dict__.pop("feature_names_in_", None)
        self.history_ = callbacks[0].rows
        self.n_iter_ = state.epoch
        self.n_pairs_ = len(pairs)
        self.n_features_out_ = info["hidden_size"]
        head = LogisticRegression() if self.head is None else clone(self.head)
        self.head_ = head.fit(self._vectors(inputs.items), labels)
        self.classes_ = np.asarray(getattr(self.head_, "classes_", classes))
        return self

    # -- inference -------------------------------------------------------------------
    def _vectors(self, items: list) -> np.ndarray:
        """Pooled vectors of the tuned encoder through the shared encode path."""
        device = resolve_device(self.device)
        dtype = resolve_dtype(self.dtype, device)
        module = self._module.to(device).eval()
        batch, budget = batch_defaults(device)
        encoder = from_module(module, self._tokenizer, self.model_path_, device, dtype)
        options = EncodeOptions(self.pooling, None, "mean", False, self.max_length_, "head", 0, batch, budget)
        out = np.empty((len(items), self.n_features_out_), dtype=np.float32)
        for start, vectors in encode_stream(encoder, items, False, options):
            out[start : start + len(vectors)] = vectors
        return out

    def transform(self, X):
        """The tuned encoder's pooled vectors, float32 ``(n_samples, n_features_out_)``
        (what the head sees; feed them to any other model)."""
        check_is_fitted(self, "head_")
        return self._vectors(self._texts(X, fitted=True).items)

    def predict(self, X):
        """Labels from ``classes_``."""
        vectors = self.transform(X)  # checks that it is fitted first
        return self.head_.predict(vectors)

    @available_if(_head_has("predict_proba"))
    def predict_proba(self, X):
        """The head's class probabilities ``(n_samples, n_classes)``."""
        vectors = self.transform(X)
        return self.head_.predict_proba(vectors)

    @available_if(_head_has("decision_function"))
    def decision_function(self, X):
        """The head's decision function (only where the head has one)."""
        vectors = self.transform(X)
        return self.head_.decision_function(vectors)

    def get_feature_names_out(self, input_features=None):
        """Names of :meth:`transform`'s columns: ``contrastiveclassifier0`` ..."""
        check_is_fitted(self, "n_features_out_")
        return np.asarray([f"contrastiveclassifier{i}" for i in range(self.n_features_out_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        # With an int random_state, CPU training is bitwise reproducible; GPU kernels are not.
        tags.non_deterministic = self.device != "cpu"
        return tags
