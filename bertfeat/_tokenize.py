"""Tokenization on the fast path: the tokenizers library's Rust batch encoder, into numpy.

``tokenizer(texts)`` (the Hugging Face call) builds a Python list per text for ids, type
ids and attention mask, and sets truncation on the tokenizer it is given before every
call. Here each (tokenizer, truncation) gets a private copy of the tokenizer's Rust
backend (``tokenizers.Tokenizer``), set up once with that truncation and no padding; a
chunk of texts is encoded by one ``encode_batch_fast`` call (no character offsets: the
path needs none; ``encode_batch`` where the fast one differs), which runs in Rust threads
without the GIL, and only the ids are read back, into flat numpy arrays. The user's tokenizer object is never changed.

The copy gives the same tokens as the tokenizer's own call: it is what the call runs
(``encode_batch`` after ``enable_truncation``). Each copy is checked once against the
call on probe texts; a tokenizer that does more in Python than its backend (or has no
Rust backend) is used through its own call instead.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

# Probe texts for the one-time check of a copy: accents, emoji, Chinese, spaces, special
# token strings of the common families, and a text long enough to be cut into windows.
_PROBES = (
    "Hello, World! café naïve 😀 3.14",
    "",
    "   ",
    "这个酒店的服务很好，房间也很干净。",
    "[CLS] x [SEP] [MASK] <s> y </s> <mask> [UNK] [PAD]",
    " ".join(f"word{i % 31} token{i % 7}" for i in range(300)),
)


@dataclass(frozen=True)
class Backend:
    """A private Rust tokenizer with one truncation setting, and what the check found."""

    rust: object = field(repr=False)  # tokenizers.Tokenizer
    single_types_zero: bool  # single texts get token type 0 everywhere (BERT-like templates)
    fast: bool  # encode_batch_fast (no offsets); else encode_batch

    def encode(self, batch: list):
        encode = self.rust.encode_batch_fast if self.fast else self.rust.encode_batch
        return encode(batch, add_special_tokens=True)


_lock = threading.Lock()
_copies: "weakref.WeakKeyDictionary[object, dict]" = weakref.WeakKeyDictionary()


def backend_for(tokenizer, max_length: int, stride: int, strategy: str, overflow: bool, pairs: bool) -> Backend | None:
    """The private Rust copy of ``tokenizer`` truncating as asked (``strategy`` as the
    call's ``truncation=``; ``overflow``: every window, not only the first) for single texts
    or for ``pairs``; None where the tokenizer's own call must be used (no Rust backend, or
    the check found a difference)."""
    if not getattr(tokenizer, "is_fast", False) or getattr(tokenizer, "backend_tokenizer", None) is None:
        return None
    split_special = bool(getattr(tokenizer, "split_special_tokens", False))
    # len(tokenizer) counts added tokens: a token added later makes a new copy.
    key = (max_length, stride, strategy, overflow, pairs, tokenizer.truncation_side, split_special, len(tokenizer))
    with _lock:
        try:
            per_tokenizer = _copies.setdefault(tokenizer, {})
        except TypeError:  # not weak-referenceable: build every time (correct, only slower)
            per_tokenizer = {}
        if key not in per_tokenizer:
            per_tokenizer[key] = _build(tokenizer, max_length, stride, strategy, overflow, pairs, split_special)
        return per_tokenizer[key]


def _build(tokenizer, max_length, stride, strategy, overflow, pairs, split_special) -> Backend | None:
    from tokenizers import Tokenizer

    try:
        rust = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
        rust.no_padding()  # the saved backend may pad (MiniLM's pads every text to 128)
        rust.enable_truncation(max_length, stride=stride, strategy=strategy, direction=tokenizer.truncation_side)
        rust.encode_special_tokens = split_special
        # Type ids of single texts: read only where some are not zero. (Pairs always read them.)
        zero = not pairs and all(t == 0 for e in rust.encode_batch(list(_PROBES)) for t in e.type_ids)
    except Exception:  # an older or unusual backend: the tokenizer's own call still works
        return None
    # encode_batch_fast skips character offsets (~20% faster here), but in tokenizers 0.23
    # it gives the overflow windows of pairs wrong type ids: the check falls back to encode_batch.
    for fast in (True, False)[0 if hasattr(rust, "encode_batch_fast") else 1 :]:
        backend = Backend(rust, zero, fast)
        if _agrees(tokenizer, backend, max_length, stride, strategy, overflow, pairs):
            return backend
    return None


def _agrees(tokenizer, backend: Backend, max_length, stride, strategy, overflow, pairs: bool) -> bool:
    """Whether the copy tokenizes the probes (as pairs or as single texts) exactly as the
    tokenizer's call does."""
    batch = [("a question", text) for text in _PROBES] if pairs else list(_PROBES)
    args = ([a for a, _ in batch], [b for _, b in batch]) if pairs else (batch,)
    try:
        with _settings_kept(tokenizer.backend_tokenizer):
            want = tokenizer(
                *args, truncation=strategy, max_length=max_length, stride=stride, padding=False,
                return_overflowing_tokens=overflow, return_token_type_ids=True, return_attention_mask=False,
            )
        got, _ = _windows(backend.encode(batch), overflow)
    except Exception:
        return False
    return [e.ids for e in got] == list(want["input_ids"]) and [e.type_ids for e in got] == list(want["token_type_ids"])


@contextmanager
def _settings_kept(rust):
    """Put back the truncation and padding that the tokenizer's call sets on its backend."""
    truncation, padding, split = rust.truncation, rust.padding, rust.encode_special_tokens
    try:
        yield
    finally:
        if truncation is None:
            rust.no_truncation()
        else:
            rust.enable_truncation(**truncation)
        if padding is None:
            rust.no_padding()
        else:
            rust.enable_padding(**padding)
        rust.encode_special_tokens = split


def _windows(encodings: list, overflow: bool) -> tuple[list, np.ndarray]:
    """Every window in order (a text's first window, then its overflow), and its text."""
    if not overflow:
        return encodings, np.arange(len(encodings), dtype=np.int64)
    windows, counts = [], np.empty(len(encodings), dtype=np.int64)
    for i, encoding in enumerate(encodings):
        rest = encoding.overflowing
        windows.append(encoding)
        windows.extend(rest)
        counts[i] = 1 + len(rest)
    return windows, np.repeat(np.arange(len(encodings), dtype=np.int64), counts)


def flatten(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Lists of ids to one flat int64 array and the offsets ``(len(rows) + 1,)`` of each row."""
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=int(offsets[-1]))
    return flat, offsets


def encode_flat(backend: Backend, items: list, is_pair: bool, overflow: bool, token_types: bool):
    """``(ids, type_ids or None, offsets, owners)`` of every window of ``items``.

    ``type_ids`` is None where the model takes none, or where they are all zero (single
    texts of a template that gives them type 0: the model's default is the same zeros).
    """
    batch = [(a, b) for a, b in items] if is_pair else items
    windows, owners = _windows(backend.encode(batch), overflow)
    ids, offsets = flatten([e.ids for e in windows])
    types = None
    if token_types and (is_pair or not backend.single_types_zero):
        types, _ = flatten([e.type_ids for e in windows])
    return ids, types, offsets, owners
