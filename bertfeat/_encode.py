"""The forward loop: texts in, pooled float32 vectors out, in input order.

Work is streamed in chunks of texts so that memory stays flat however long the
input is: each chunk is tokenized once, sorted by length, cut into batches under a
token budget, run through the encoder under ``torch.inference_mode`` and pooled.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Iterator

import numpy as np

from bertfeat._batching import collate, plan_batches, tokenize

# Measured with benchmarks/batching.py (BENCHMARKS.md, "Batch settings"): on the CPU small
# batches win (less padding, cache-sized GEMMs) and the token budget caps memory for long
# texts; on a GPU bigger batches fill the device.
CPU_BATCH_SIZE, CPU_TOKEN_BUDGET = 32, 4096
GPU_BATCH_SIZE, GPU_TOKEN_BUDGET = 256, 65536
STREAM_CHUNK = 4096  # texts tokenized and held at once

_stats = {"texts": 0, "windows": 0, "batches": 0, "forward_calls": 0}


def encoding_stats() -> dict:
    """Counters of this process: texts encoded, windows, batches, forward calls.

    Useful to show that the disk cache spares forward passes (e.g. in a grid search).
    """
    return dict(_stats)


def reset_encoding_stats() -> None:
    for key in _stats:
        _stats[key] = 0


@dataclass(frozen=True)
class EncodeOptions:
    """Everything that decides a vector (plus the batch sizes, which do not)."""

    pooling: str
    layers: tuple[int, ...] | None
    layer_agg: str
    normalize: bool
    max_length: int
    truncation: str
    stride: int
    batch_size: int
    token_budget: int

    def vector_settings(self) -> dict:
        """The options that change a vector: part of the cache key."""
        settings = asdict(self)
        del settings["batch_size"], settings["token_budget"]
        settings["layers"] = list(self.layers) if self.layers is not None else "last"
        return settings


def batch_defaults(device) -> tuple[int, int]:
    return (GPU_BATCH_SIZE, GPU_TOKEN_BUDGET) if device.type != "cpu" else (CPU_BATCH_SIZE, CPU_TOKEN_BUDGET)


def _forward(loaded, arrays: dict, opts: EncodeOptions):
    import torch

    from bertfeat._pooling import pool

    tensors = {k: torch.from_numpy(v).to(loaded.device) for k, v in arrays.items()}
    _stats["forward_calls"] += 1
    outputs = loaded.model(**tensors, output_hidden_states=opts.layers is not None, return_dict=True)
    positions = opts.max_length if opts.pooling == "tokens" else None
    return pool(outputs, tensors["attention_mask"], opts.pooling, opts.layers, opts.layer_agg, positions).cpu()


def _single_window_oom(error: BaseException, loaded, n_tokens: int, opts: EncodeOptions) -> BaseException:
    """Out of memory with nothing left to halve: say so, and what to change."""
    message = (
        f"out of memory on {loaded.device} encoding a single window of {n_tokens} tokens "
        f"(max_length={opts.max_length}); there is no smaller batch to retry. Lower max_length, "
        "use dtype='float16' or 'bfloat16', free memory held by other work, or use device='cpu'. "
        f"Cause: {error}"
    )
    try:
        return type(error)(message)  # same type: callers catching OOM still catch it
    except Exception:
        return RuntimeError(message)


def _run_batch(loaded, tokenized, index: np.ndarray, opts: EncodeOptions):
    """Forward one batch; on out-of-memory, halve it and retry (down to one row)."""
    import torch

    from bertfeat._device import is_oom

    pad_id = loaded.tokenizer.pad_token_id or 0
    try:
        return _forward(loaded, collate(tokenized, index, pad_id), opts)
    except Exception as error:
        if not is_oom(error):
            raise
        if len(index) == 1:
            raise _single_window_oom(error, loaded, len(tokenized.input_ids[index[0]]), opts) from error
    if loaded.device.type == "cuda":
        torch.cuda.empty_cache()
    warnings.warn(
        f"out of memory on a batch of {len(index)} windows on {loaded.device}; retrying in halves "
        "(lower token_budget to avoid this)",
        RuntimeWarning,
        stacklevel=2,
    )
    half = len(index) // 2
    return torch.cat([_run_batch(loaded, tokenized, index[:half], opts), _run_batch(loaded, tokenized, index[half:], opts)])


_plain_lock = threading.Lock()
_plain_users, _plain_saved = 0, True


@contextmanager
def plain_cpu_kernels(loaded):
    """fp32 on the CPU: run the forward without oneDNN (MKL still does the matmuls).

    oneDNN compiles and caches a kernel per tensor shape (GELU here, up to 1,024
    shapes), and sorted length batches bring new shapes all the time: measured, RSS grew
    ~20 MB per 4,096 new tweets with it and stayed flat without it, at the same speed
    (BENCHMARKS.md, "Memory"). Fast modes keep it: int8 and bf16 kernels need it.
    """
    import torch

    global _plain_users, _plain_saved
    if loaded.device.type != "cpu" or loaded.dtype != torch.float32 or loaded.info.get("fast_mode"):
        yield
        return
    # The flag is process-wide: with transforms in several threads (Dask's threaded
    # scheduler), the first one in turns it off and the last one out restores it.
    with _plain_lock:
        if _plain_users == 0:
            _plain_saved = torch.backends.mkldnn.enabled
            torch.backends.mkldnn.enabled = False
        _plain_users += 1
    try:
        yield
    finally:
        with _plain_lock:
            _plain_users -= 1
            if _plain_users == 0:
                torch.backends.mkldnn.enabled = _plain_saved


def encode_chunk(loaded, items: list, is_pair: bool, opts: EncodeOptions, bar=None) -> np.ndarray:
    """float32 array ``(len(items), dim)`` for one chunk of distinct inputs."""
    import torch

    tokenized = tokenize(
        loaded.tokenizer, items, is_pair, opts.max_length, opts.truncation, opts.stride, loaded.info["token_types"]
    )
    lengths = tokenized.lengths
    n_windows = len(lengths)
    batches = plan_batches(lengths, opts.batch_size, opts.token_budget)
    if bar is not None:  # a TokenProgress: work counted in tokens
        bar.planned(int(lengths.sum()), len(items))
    window_vectors = None
    with torch.inference_mode(), plain_cpu_kernels(loaded):
        for index in batches:
            pooled = _run_batch(loaded, tokenized, index, opts)
            if window_vectors is None:
                window_vectors = torch.empty((n_windows, pooled.shape[1]), dtype=torch.float32)
            window_vectors[torch.from_numpy(index)] = pooled
            _stats["batches"] += 1
            if bar is not None:
                bar.update(int(lengths[index].sum()))
    vectors = window_vectors.numpy()
    if n_windows != len(items):  # chunked long texts: average each text's windows
        sums = np.zeros((len(items), vectors.shape[1]), dtype=np.float64)
        np.add.at(sums, tokenized.owners, vectors)
        counts = np.bincount(tokenized.owners, minlength=len(items))[:, None]
        vectors = (sums / counts).astype(np.float32)
    if opts.normalize:
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.maximum(norms, 1e-12)
    _stats["texts"] += len(items)
    _stats["windows"] += n_windows
    return np.ascontiguousarray(vectors, dtype=np.float32)


@lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's ``malloc_trim``, or None (other C libraries, other systems)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    """Hand memory freed by the last chunk back to the system.

    glibc keeps the freed activation and token buffers of each chunk in its heaps, and
    the fragments add up: measured, RSS grew ~30 MB per 4,096 tweets against 6 MB of
    vectors kept. Trimming between chunks keeps peak memory flat on long inputs.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def encode_stream(loaded, items: list, is_pair: bool, opts: EncodeOptions, progress: bool = False) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start, vectors)`` for consecutive chunks of ``items``."""
    bar = None
    if progress:
        from bertfeat._progress import TokenProgress

        bar = TokenProgress(len(items))
    try:
        for start in range(0, len(items), STREAM_CHUNK):
            chunk = items[start : start + STREAM_CHUNK]
            vectors = encode_chunk(loaded, chunk, is_pair, opts, bar)
            if len(items) > STREAM_CHUNK:
                release_freed_memory()
            yield start, vectors
    finally:
        if bar is not None:
            bar.close()
