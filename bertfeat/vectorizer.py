"""``BertVectorizer``: texts or sentence pairs to vectors, as a scikit-learn transformer."""

from __future__ import annotations

import os
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from bertfeat._batching import TRUNCATIONS, resolve_max_length
from bertfeat._cache import VectorCache, setup_key
from bertfeat._device import DTYPES
from bertfeat._encode import EncodeOptions, batch_defaults, encode_stream
from bertfeat._fast.modes import MODES, check_mode_here, describe, refuse_dropped_mode
from bertfeat._inputs import check_input_form, check_target, check_texts
from bertfeat._params import validate_params
from bertfeat._pooling import LAYER_AGGS, VECTORIZER_POOLINGS, normalize_layers, output_dim
from bertfeat._lookup import cached_vectors
from bertfeat._pairs import bi_feature_names, bi_features
from bertfeat._store import load_model
from bertfeat._encoder_state import EncoderState

PROGRESS_MIN_TEXTS = 2000  # progress="auto" shows a bar from this much work up
FAST_MODES = (None,) + tuple(m for m in MODES if m != "auto")


class BertVectorizer(EncoderState, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Vectors of texts or sentence pairs from a BERT-family encoder.

    Parameters
    ----------
    model : str, path or None, default=None
        A local Hugging Face model folder, a Hub id (loads where the Hub or its local
        cache is reachable), or None for the embedded all-MiniLM-L6-v2.
    pooling : {"mean", "cls", "max", "pooler", "tokens"}, default="mean"
        How token states become one vector. ``"mean"`` averages real tokens
        (padding excluded); ``"pooler"`` is the model's pooler output (last layer only).
        ``"tokens"`` keeps the states of the first ``max_length`` tokens (special tokens
        included; give ``max_length``), zero-padded and flattened position-major to
        ``max_length * hidden`` features (times the layers under ``layer_agg="concat"``),
        named ``bertvectorizer_t{position}_d{dimension}``; ``truncation="chunk"`` is refused.
    layers : "last", int or list of int, default="last"
        Which hidden states to pool: 0 is the embedding output, -1 (or the depth) the
        last layer. ``[-4, -3, -2, -1]`` with ``layer_agg="concat"`` is the BERT paper's
        feature-based recipe.
    layer_agg : {"mean", "concat"}, default="mean"
        How several layers combine.
    normalize : bool, default=False
        Return unit-length vectors (with ``pooling="tokens"``: the whole flattened row).
    max_length : int or None, default=None
        Tokens per window, special tokens included; None means the model's maximum
        (``pooling="tokens"`` needs it given: it sets the number of features).
    truncation : {"head", "chunk"}, default="head"
        ``"head"`` keeps the first ``max_length`` tokens; ``"chunk"`` reads the whole
        text in overlapping windows and averages their vectors (for pairs, the second
        text is windowed).
    stride : int, default=64
        Overlap, in tokens, between consecutive windows when ``truncation="chunk"``.
    batch_size : int or "auto", default="auto"
        Most windows in one forward pass ("auto": 32 on CPU, up to 128 for models
        smaller than MiniLM; 1024 on GPU).
    token_budget : int or "auto", default="auto"
        Most padded tokens in one forward pass, a memory cap for long texts
        ("auto": 4096 on CPU, up to 16384 for models smaller than MiniLM; 65536 on GPU).
    device : str, default="auto"
        "auto" (cuda, then mps, then cpu), "cpu", "cuda", "cuda:N" or "mps".
    dtype : {"auto", "float32", "float16", "bfloat16"}, default="auto"
        Weights precision; "auto" is bf16/fp16 on GPU and fp32 on CPU. Output is
        always float32.
    cache_dir : str, path or None, default=None
        Folder of the disk cache; None turns it off. Shared safely by processes.
    store_weights : bool, default=False
        Keep the model files inside the pickle (a self-contained deployment); by
        default the pickle holds the model reference and its fingerprint.
    progress : bool or "auto", default="auto"
        tqdm progress bar; "auto" shows it for 2,000 texts or more.
    fast_mode : {None, "int8", "bf16"}, default=None
        Opt-in faster CPU inference that changes vectors slightly (see BENCHMARKS.md,
        "Fast mode"): ``"int8"`` dynamic int8 quantization of the linear layers;
        ``"bf16"`` bfloat16 on CPUs that multiply it natively. CPU only; the mode is
        part of the cache key, so fast and exact vectors are never mixed. (The ONNX
        Runtime modes were removed: no CPU measured them faster than these.)
    pair_mode : {"cross", "bi"}, default="cross"
        How sentence pairs are encoded. ``"cross"``: jointly, ``[CLS] a [SEP] b [SEP]``
        (with segment ids), one vector per pair. ``"bi"``: each text alone (one forward
        pass per distinct text, cached per text), returning ``[u, v, |u-v|, u*v]``
        (``4 * hidden`` features): better for sentence encoders trained on single
        sentences. No effect on single texts.

    Attributes
    ----------
    model_path_ : str
        Folder the model was loaded from.
    model_fingerprint_ : str
        sha256 of the model's config, weight and tokenizer files.
    n_features_in_ : int
        1 for texts, 2 for sentence pairs.
    feature_names_in_ : ndarray of str
        Column names, when fitted on a DataFrame with string column names.
    n_features_out_ : int
        Vector size, known from the config before any forward pass (four times the
        hidden size for pairs with ``pair_mode="bi"``).
    vector_settings_ : dict
        The settings that decide a vector, resolved against the model at fit (layers as
        indices, ``max_length`` in tokens). With the fingerprint they key the disk cache,
        so a fitted vectorizer answers cached texts without loading the model.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> pipe = make_pipeline(BertVectorizer(), LogisticRegression())  # doctest: +SKIP
    >>> pipe.fit(["i love it", "i hate it"], [1, 0]).predict(["so good"])  # doctest: +SKIP
    """

    def __init__(
        self,
        model=None,
        *,
        pooling="mean",
        layers="last",
        layer_agg="mean",
        normalize=False,
        max_length=None,
        truncation="head",
        stride=64,
        batch_size="auto",
        token_budget="auto",
        device="auto",
        dtype="auto",
        cache_dir=None,
        store_weights=False,
        progress="auto",
        fast_mode=None,
        pair_mode="cross",
    ):
        self.model = model
        self.pooling = pooling
        self.layers = layers
        self.layer_agg = layer_agg
        self.normalize = normalize
        self.max_length = max_length
        self.truncation = truncation
        self.stride = stride
        self.batch_size = batch_size
        self.token_budget = token_budget
        self.device = device
        self.dtype = dtype
        self.cache_dir = cache_dir
        self.store_weights = store_weights
        self.progress = progress
        self.fast_mode = fast_mode
        self.pair_mode = pair_mode

    # -- saved state (bertfeat._encoder_state) ----------------------------------------
    # What a saved state may set, and whether the model files go inside it.
    _fitted_names = (
        "n_features_in_", "feature_names_in_", "model_path_", "model_fingerprint_", "n_features_out_", "vector_settings_"
    )
    _keep_files_hint = "store_weights=True keeps them inside the pickle"

    def _embeds_model(self) -> bool:
        return bool(self.store_weights)

    # -- parameters ----------------------------------------------------------------
    _parameter_constraints: dict = {
        "model": [str, os.PathLike, None],
        "pooling": [StrOptions(set(VECTORIZER_POOLINGS))],
        "layers": [StrOptions({"last"}), Integral, "array-like"],  # indices: checked against the model
        "layer_agg": [StrOptions(set(LAYER_AGGS))],
        "normalize": ["boolean"],
        "max_length": [Interval(Integral, 1, None, closed="left"), None],
        "truncation": [StrOptions(set(TRUNCATIONS))],
        "stride": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "token_budget": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "device": [str],  # the device names are checked where the device is resolved
        "dtype": [StrOptions(set(DTYPES))],
        "cache_dir": [str, os.PathLike, None],
        "store_weights": ["boolean"],
        "progress": ["boolean", StrOptions({"auto"})],
        "fast_mode": [StrOptions({m for m in FAST_MODES if m is not None}), None],
        "pair_mode": [StrOptions({"cross", "bi"})],
    }

    def _check_params(self) -> None:
        """Every parameter that can be checked without the model: the declared
        constraints, then the combinations they cannot express."""
        refuse_dropped_mode(self.fast_mode)  # before the generic check: say why it is gone
        validate_params(self)
        if self.pooling == "pooler" and self.layers != "last":
            raise ValueError(f"pooling='pooler' uses the last layer only; got layers={self.layers!r}")
        if self.pooling == "tokens":
            if self.max_length is None:
                raise ValueError(
                    "pooling='tokens' needs max_length: the number of token positions kept (special tokens "
                    "included), e.g. max_length=32 gives 32 * hidden features; the model's maximum would "
                    "give hundreds of mostly-zero positions"
                )
            if self.truncation == "chunk":
                raise ValueError(
                    "pooling='tokens' keeps the first max_length tokens of each text; truncation='chunk' "
                    "(averaging windows) has no meaning for it: use truncation='head'"
                )
        if self.fast_mode is not None:
            if self.dtype not in ("auto", "float32"):
                raise ValueError(
                    f"fast_mode={self.fast_mode!r} sets the CPU precision itself; leave dtype='auto' "
                    f"(got dtype={self.dtype!r})"
                )
            check_mode_here(self.fast_mode)

    def _resolve_setup(self, loaded) -> None:
        """Checks that need the model (depth, pooler, maximum length); sets the options."""
        layers = normalize_layers(self.layers, loaded.num_layers)
        if self.pooling == "pooler" and not loaded.has_pooler:
            raise ValueError(
                f"pooling='pooler' but the {loaded.config.model_type!r} model at {loaded.path!r} has no pooler; "
                "use 'cls', 'mean' or 'max'"
            )
        max_length, n_special = resolve_max_length(
            self.max_length, loaded.max_length, loaded.tokenizer, self._cross_pairs()
        )
        if self.truncation == "chunk" and self.stride >= max_length - n_special:
            raise ValueError(
                f"stride={self.stride} must be smaller than max_length minus special tokens "
                f"({max_length - n_special}) so that windows move forward"
            )
        if self.fast_mode is not None and loaded.device.type != "cpu":
            raise ValueError(
                f"fast_mode={self.fast_mode!r} is a CPU mode but the model runs on {loaded.device}; "
                "on a GPU use dtype='float16' or 'bfloat16' (the 'auto' default), or device='cpu'"
            )
        default_batch, default_budget = batch_defaults(loaded.device, loaded.info)
        self._options = EncodeOptions(
            pooling=self.pooling,
            layers=layers,
            layer_agg=self.layer_agg,
            normalize=bool(self.normalize),
            max_length=max_length,
            truncation=self.truncation,
            stride=int(self.stride),
            batch_size=default_batch if self.batch_size == "auto" else int(self.batch_size),
            token_budget=default_budget if self.token_budget == "auto" else int(self.token_budget),
        )
        positions = max_length if self.pooling == "tokens" else None
        dim = output_dim(loaded.hidden_size, layers, self.layer_agg, positions)
        self.n_features_out_ = 4 * dim if self._bi_pairs() else dim

    def _bi_pairs(self) -> bool:
        """Pairs encoded text by text (``pair_mode="bi"``)."""
        return self.n_features_in_ == 2 and self.pair_mode == "bi"

    def _cross_pairs(self) -> bool:
        return self.n_features_in_ == 2 and self.pair_mode == "cross"

    def _text_dim(self) -> int:
        """Size of one encoded item (a text, or a cross-encoded pair): what the cache holds."""
        return self.n_features_out_ // 4 if self._bi_pairs() else self.n_features_out_

    # -- model ---------------------------------------------------------------------
    def _load(self):
        """The loaded model, checked against the fingerprint seen at fit."""
        loaded = getattr(self, "_loaded", None)
        if loaded is None:
            loaded = load_model(self._model_source(), self.device, self.dtype)
            expected = getattr(self, "model_fingerprint_", None)
            if expected is not None and loaded.fingerprint != expected:
                raise ValueError(
                    f"the model files at {loaded.path!r} changed since this vectorizer was fitted "
                    f"(fingerprint {loaded.fingerprint[:16]}..., expected {expected[:16]}...); "
                    "refit it, or restore the original model folder"
                )
            self._loaded = loaded
        return loaded

    def _encoder(self):
        """What runs the forward passes: the loaded model, or its fast copy (built once by
        the store); held by the estimator like the model itself."""
        loaded = self._load()
        if self.fast_mode is None:
            return loaded
        fast = getattr(self, "_fast_loaded", None)
        if fast is None:
            fast = self._fast_loaded = load_model(loaded.path, self.device, self.dtype, fast_mode=self.fast_mode)
        return fast

    def _ensure_setup(self):
        if getattr(self, "_options", None) is None:
            self._resolve_setup(self._load())
        return self._options

    def _cache(self):
        if self.cache_dir is None:
            return None
        cache = getattr(self, "_vector_cache", None)
        if cache is None:
            settings = dict(self._vector_settings())
            settings["dtype"] = str(self._loaded_dtype())
            if self.fast_mode is not None:  # absent otherwise: exact-mode keys stay as they were
                settings["fast_mode"] = describe(self.fast_mode)
            description = {"model": str(self.model_path_), "fingerprint": self.model_fingerprint_, **settings}
            cache = VectorCache(self.cache_dir, setup_key(self.model_fingerprint_, settings), self._text_dim(), description)
            self._vector_cache = cache
        return cache

    def _vector_settings(self) -> dict:
        """The cache key's settings: recorded at fit, so no model is loaded to know them
        (a vectorizer fitted before ``vector_settings_`` existed resolves them again)."""
        recorded = getattr(self, "vector_settings_", None)
        return recorded if recorded is not None else self._ensure_setup().vector_settings()

    def _loaded_dtype(self):
        from bertfeat._device import resolve_device, resolve_dtype

        return resolve_dtype(self.dtype, resolve_device(self.device))

    # -- scikit-learn API ----------------------------------------------------------
    def fit(self, X, y=None):
        """Check parameters and input, load the model (once per process).

        Nothing is learned from ``X``: fitting records its form (texts or pairs).
        """
        self._check_params()
        inputs = check_texts(X)
        check_target(inputs, y)
        self._reset()
        self.n_features_in_ = inputs.n_features
        if inputs.feature_names is not None:
            self.feature_names_in_ = inputs.feature_names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        loaded = self._load()
        self.model_path_ = loaded.path
        self.model_fingerprint_ = loaded.fingerprint
        self._resolve_setup(loaded)
        self.vector_settings_ = self._options.vector_settings()
        return self

    def _reset(self) -> None:
        for name in ("_loaded", "_fast_loaded", "_options", "_vector_cache", "model_fingerprint_", "vector_settings_"):
            self.__dict__.pop(name, None)
        self._forget_restored_files()

    def transform(self, X):
        """Vectors of ``X``, float32 of shape ``(n_samples, n_features_out_)``, in input order."""
        check_is_fitted(self, "model_fingerprint_")
        inputs = check_texts(X)
        check_input_form(inputs, self.n_features_in_, getattr(self, "feature_names_in_", None), "vectorizer")
        return self._vectors(inputs.items, inputs.is_pair)

    def _vectors(self, items: list, is_pair: bool) -> np.ndarray:
        self._check_fingerprint_if_cold()
        if is_pair and self.pair_mode == "bi":
            return bi_features(items, lambda texts: self._vectors(texts, False))

        def encode_missing(missing):
            # the model is loaded here, on the first miss: cached texts need no weights
            options = self._ensure_setup()
            loaded = self._encoder()
            show = self.progress is True or (self.progress == "auto" and len(missing) >= PROGRESS_MIN_TEXTS)
            return encode_stream(loaded, missing, is_pair, options, progress=show)

        return cached_vectors(items, self._text_dim(), self._cache(), encode_missing)

    @property
    def _n_features_out(self):
        return self.n_features_out_

    def get_feature_names_out(self, input_features=None):
        """``bertvectorizer0``, ``bertvectorizer1``, ...; with ``pooling="tokens"``,
        ``bertvectorizer_t{position}_d{dimension}`` (position-major, as the columns); for
        pairs with ``pair_mode="bi"`` the names of one text's features in four blocks,
        ``bertvectorizer_u..``, ``_v..``, ``_absdiff..``, ``_prod..``."""
        if self.pooling != "tokens" and not getattr(self, "n_features_in_", 1) == 2:
            return super().get_feature_names_out(input_features)
        check_is_fitted(self, "n_features_out_")
        dim = self._text_dim()
        if self.pooling == "tokens":
            positions = self._vector_settings()["max_length"]
            suffixes = [f"_t{t}_d{d}" for t in range(positions) for d in range(dim // positions)]
        else:
            suffixes = [str(i) for i in range(dim)]
        prefix = type(self).__name__.lower()
        if self._bi_pairs():
            return bi_feature_names(prefix, suffixes)
        if self.pooling != "tokens":
            return super().get_feature_names_out(input_features)
        return np.asarray([prefix + suffix for suffix in suffixes], dtype=object)

    # -- cache ---------------------------------------------------------------------
    def cache_info(self) -> dict:
        """Entries, data files, bytes, hits and misses of this setup's cache (fitted, cache on)."""
        check_is_fitted(self, "model_fingerprint_")
        self._ensure_setup()
        cache = self._cache()
        if cache is None:
            return {"folder": None, "entries": 0, "files": 0, "bytes": 0, "hits": 0, "misses": 0, "disabled": "cache_dir=None"}
        return cache.info()

    def clear_cache(self) -> None:
        """Delete the cached vectors of this model setup (other setups are kept)."""
        check_is_fitted(self, "model_fingerprint_")
        self._ensure_setup()
        cache = self._cache()
        if cache is not None:
            cache.clear()

    # -- scikit-learn tags and pickling ---------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Text in: a 1-D sequence of strings, or two string columns for pairs. Not a
        # numeric 2-D array, so scikit-learn's generic checks do not apply (our own
        # contract tests in tests/test_contract.py cover them).
        tags.input_tags.string = True
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        tags.target_tags.required = False
        tags.transformer_tags.preserves_dtype = []
        return tags
