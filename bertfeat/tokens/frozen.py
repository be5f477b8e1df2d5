"""``FrozenTokenClassifier``: classical machine learning on contextual word vectors from a
frozen encoder."""

from __future__ import annotations

import os
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from bertfeat._batching import resolve_max_length
from bertfeat._cache import VectorCache, setup_key
from bertfeat._device import DTYPES
from bertfeat._encode import batch_defaults
from bertfeat._params import validate_params
from bertfeat._pooling import LAYER_AGGS, normalize_layers, output_dim
from bertfeat._encoder_state import EncoderState
from bertfeat._store import load_model
from bertfeat.tokens._align import align_words
from bertfeat.tokens._spans import TaggerMixin
from bertfeat.tokens._vectors import WORD_VECTORS, encode_words, word_key
from bertfeat.tokens._words import check_sentences, check_tags

PROGRESS_MIN_SENTENCES = 1000  # progress="auto" shows a bar from this many sentences to encode


class FrozenTokenClassifier(TaggerMixin, EncoderState, BaseEstimator):
    """Any scikit-learn classifier on contextual word vectors of a frozen transformer.

    ``X`` is a list of sentences, each a list of words (str); ``y`` a list of tag lists
    of the same lengths. Each word's vector is read from the encoder (never trained) in
    the context of its sentence: its first sub-token's hidden state, or the mean of its
    sub-tokens', from the chosen layers. Long sentences are read in overlapping windows
    as in :class:`FineTuneTokenClassifier`, so every word gets a vector. ``head`` is
    fitted on the vectors of all training words.

    Parameters
    ----------
    model : str, path or None, default=None
        Local Hugging Face folder, Hub id, or None for the embedded all-MiniLM-L6-v2
        (loaded through the model store, shared with any vectorizer of the same model).
        It needs a fast tokenizer.
    head : classifier or None, default=None
        A scikit-learn classifier, cloned and fitted on ``(n_words, n_features_out_)``.
        None means ``LogisticRegression(max_iter=1000)``. ``predict_proba`` needs a head
        that has it.
    word_vector : {"first", "mean"}, default="first"
        A word's vector: its first sub-token's state, or the mean over its sub-tokens.
    layers : "last", int or list of int, default="last"
        Hidden states to read (0 is the embedding output, -1 the last layer).
    layer_agg : {"mean", "concat"}, default="mean"
        How several layers combine.
    max_length : int or None, default=128
        Tokens per window (special tokens included); None means the model's maximum.
    stride : int, default=32
        Sub-tokens shared by consecutive windows of a long sentence.
    cache_dir : str, path or None, default=None
        Disk cache of word vectors (the vectorizer's: crc-checked, safe for concurrent
        processes); None turns it off. A word's key holds the model's fingerprint, every
        option above that changes a vector, its whole sentence and its place in it.
    batch_size : int or "auto", default="auto"
        Windows per forward pass (auto: 32 on CPU, 256 on GPU, under a token budget).
    device : str, default="auto"
        "auto" (cuda, then mps, then cpu), "cpu", "cuda", "cuda:N" or "mps".
    dtype : {"auto", "float32", "float16", "bfloat16"}, default="auto"
        Precision of the encoder's weights ("auto": fp16 or bf16 on GPU, float32 on CPU).
    progress : bool or "auto", default="auto"
        Progress bar while encoding ("auto": from 1,000 sentences to encode).

    Attributes
    ----------
    classes_ : ndarray
        Tags, the columns of ``predict_proba`` (the head's ``classes_``).
    head_ : estimator
        The fitted head.
    n_features_out_ : int
        Size of a word vector.
    max_length_ : int
        Tokens per window.
    model_path_, model_fingerprint_ : str
        The model's folder and the fingerprint of its files (checked before predicting).
    vector_settings_ : dict
        The options that decide a word vector (with the fingerprint, the cache's setup key).

    Notes
    -----
    A pickle or ``bertfeat.persist`` folder names the encoder and its fingerprint, checked
    when it is read again; ``persist.save(tagger, folder, include_model=True)`` puts the
    encoder's files inside instead (a self-contained folder, as the command line writes).

    Examples
    --------
    >>> tagger = FrozenTokenClassifier(cache_dir="~/.cache/bertfeat")  # doctest: +SKIP
    >>> tagger.fit([["Ann", "lives", "in", "Rome"]] * 20, [["B-PER", "O", "O", "B-LOC"]] * 20)  # doctest: +SKIP
    >>> tagger.predict([["Bob", "is", "in", "Oslo"]])  # doctest: +SKIP
    """

    _parameter_constraints: dict = {
        "model": [str, os.PathLike, None],
        "head": [HasMethods(["fit", "predict"]), None],
        "word_vector": [StrOptions(set(WORD_VECTORS))],
        "layers": [StrOptions({"last"}), Integral, "array-like"],  # indices: checked against the model
        "layer_agg": [StrOptions(set(LAYER_AGGS))],
        "max_length": [Interval(Integral, 3, None, closed="left"), None],
        "stride": [Interval(Integral, 0, None, closed="left")],
        "cache_dir": [str, os.PathLike, None],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "device": [str],
        "dtype": [StrOptions(set(DTYPES))],
        "progress": ["boolean", StrOptions({"auto"})],
    }

    def __init__(
        self,
        *,
        model=None,
        head=None,
        word_vector="first",
        layers="last",
        layer_agg="mean",
        max_length=128,
        stride=32,
        cache_dir=None,
        batch_size="auto",
        device="auto",
        dtype="auto",
        progress="auto",
    ):
        self.model = model
        self.head = head
        self.word_vector = word_vector
        self.layers = layers
        self.layer_agg = layer_agg
        self.max_length = max_length
        self.stride = stride
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype
        self.progress = progress

    # -- model and setup -------------------------------------------------------------
    def _load(self):
        """The encoder from the store, checked against the fingerprint seen at fit."""
        loaded = getattr(self, "_loaded", None)
        if loaded is None:
            loaded = load_model(self._model_source(), self.device, self.dtype)
            expected = getattr(self, "model_fingerprint_", None)
            if expected is not None and loaded.fingerprint != expected:
                raise ValueError(
                    f"the model files at {loaded.path!r} changed since this tagger was fitted "
                    f"(fingerprint {loaded.fingerprint[:16]}..., expected {expected[:16]}...); refit it"
                )
            self._loaded = loaded
        return loaded

    def _resolve_setup(self, loaded) -> None:
        """Checks that need the model (depth, maximum length); the vector settings."""
        layers = normalize_layers(self.layers, loaded.num_layers)
        self.max_length_, n_special = resolve_max_length(self.max_length, loaded.max_length, loaded.tokenizer, False)
        if self.stride >= self.max_length_ - n_special:
            raise ValueError(
                f"stride={self.stride} must be smaller than max_length minus special tokens "
                f"({self.max_length_ - n_special}) so that windows move forward"
            )
        self.n_features_out_ = output_dim(loaded.hidden_size, layers, self.layer_agg)
        self.vector_settings_ = {
            "kind": "word-vectors",
            "word_vector": self.word_vector,
            "layers": "last" if layers is None else list(layers),
            "layer_agg": self.layer_agg,
            "max_length": int(self.max_length_),
            "stride": int(self.stride),
            "dtype": str(loaded.dtype),
        }

    def _cache(self):
        if self.cache_dir is None:
            return None
        cache = getattr(self, "_vector_cache", None)
        if cache is None:
            settings = self.vector_settings_
            description = {"model": str(self.model_path_), "fingerprint": self.model_fingerprint_, **settings}
            cache = VectorCache(self.cache_dir, setup_key(self.model_fingerprint_, settings), self.n_features_out_, description)
            self._vector_cache = cache
        return cache

    # -- word vectors ---------------------------------------------------------------
    def _word_vectors(self, sentences: list[list[str]]) -> np.ndarray:
        """float32 ``(total words, n_features_out_)`` in word order; repeated sentences
        are encoded once, cached words are read from the cache."""
        first_of: dict[tuple, int] = {}
        unique = [first_of.setdefault(tuple(s), len(first_of)) for s in sentences]
        distinct = [list(words) for words in first_of]
        sizes = np.array([len(s) for s in distinct], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)])
        vectors = np.empty((int(starts[-1]), self.n_features_out_), dtype=np.float32)
        cache, todo = self._cache(), np.arange(len(distinct))
        if cache is not None:
            keys = [word_key(words, i) for words in distinct for i in range(len(words))]
            self._check_fingerprint_if_cold()  # a cache hit must not hide a changed model
            found, hits = cache.get(keys)
            vectors[found] = hits
            complete = np.logical_and.reduceat(found, starts[:-1]) if len(found) else np.zeros(0, dtype=bool)
            todo = np.flatnonzero(~complete)
        if len(todo):
            loaded = self._load()
            windows = align_words(loaded.tokenizer, [distinct[i] for i in todo], self.max_length_, self.stride, loaded.info["token_types"])
            layers = normalize_layers(self.layers, loaded.num_layers)
            batch, budget = batch_defaults(loaded.device)
            batch = batch if self.batch_size == "auto" else int(self.batch_size)
            bar = None
            if self.progress is True or (self.progress == "auto" and len(todo) >= PROGRESS_MIN_SENTENCES):
                from bertfeat._progress import TokenProgress

                bar = TokenProgress(len(todo))
            try:
                fresh = encode_words(loaded, windows, layers, self.layer_agg, self.word_vector, batch, budget, bar)
            finally:
                if bar is not None:
                    bar.close()
            rows = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in todo])
            vectors[rows] = fresh
            if cache is not None:
                missing = ~found[rows]
                cache.put([keys[r] for r in rows[missing]], fresh[missing])
                cache.flush()
        return np.concatenate([vectors[starts[u] : starts[u + 1]] for u in unique])

    # -- scikit-learn API ----------------------------------------------------------
    def fit(self, X, y):
        """Encode every word of ``X`` and fit the head on their vectors and tags.

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
        validate_params(self)
        sentences = check_sentences(X)
        tags = check_tags(y, sentences)
        flat = np.concatenate([np.asarray(t, dtype=str) for t in tags])
        if len(np.unique(flat)) < 2:
            raise ValueError(f"y holds a single tag ({flat[0]!r}); a tagger needs at least 2")
        for name in ("_loaded", "_vector_cache", "model_fingerprint_"):
            self.__dict__.pop(name, None)
        self._forget_restored_files()
        loaded = self._load()
        self.model_path_, self.model_fingerprint_ = loaded.path, loaded.fingerprint
        self._resolve_setup(loaded)
        head = LogisticRegression(max_iter=1000) if self.head is None else clone(self.head)
        self.head_ = head.fit(self._word_vectors(sentences), flat)
        self.classes_ = self.head_.classes_
        return self

    def _vectors_of(self, X):
        check_is_fitted(self, "head_")
        sentences = check_sentences(X)
        offsets = np.cumsum([len(s) for s in sentences])[:-1]
        return self._word_vectors(sentences), offsets

    def transform(self, X) -> list[np.ndarray]:
        """Word vectors: one float32 ``(n_words, n_features_out_)`` array per sentence."""
        vectors, offsets = self._vectors_of(X)
        return np.split(vectors, offsets)

    def predict(self, X) -> list[list[str]]:
        """One tag per word: a list of tag lists, in the shape of ``X``."""
        vectors, offsets = self._vectors_of(X)
        return [part.tolist() for part in np.split(self.head_.predict(vectors), offsets)]

    def predict_proba(self, X) -> list[np.ndarray]:
        """Tag probabilities of each word: one ``(n_words, n_tags)`` array per sentence,
        columns in the order of ``classes_``."""
        vectors, offsets = self._vectors_of(X)
        return np.split(self.head_.predict_proba(vectors), offsets)
