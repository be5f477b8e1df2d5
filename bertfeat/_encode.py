"""The forward loop: texts in, pooled float32 vectors out, in input order.

Work is streamed in chunks of texts so that memory stays flat however long the input
is. A thread tokenizes chunk k+1 (Rust, without the GIL) while the model runs chunk k;
each chunk is sorted by length, cut into batches under a token budget and run through
the encoder under ``torch.inference_mode``; the pooled vectors stay on the device until
the chunk is done and come back in one copy (on CUDA, while the next chunk runs).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Iterator

import numpy as np

from bertfeat._batching import tokenize
from bertfeat._pipeline import chunk_bounds, stream_chunks
from bertfeat._run import run_sorted, to_host

# Measured with benchmarks/batching.py (BENCHMARKS.md, "Batch settings") on MiniLM: on the
# CPU small batches win (less padding, cache-sized GEMMs) and the token budget caps memory
# for long texts. Smaller models get proportionally larger CPU batches (cpu_batch_scale).
CPU_BATCH_SIZE, CPU_TOKEN_BUDGET = 32, 4096
# On a GPU, big batches fill the device: the bare bound loop (176,000 tweets/s with
# MiniLM on an H200) ran 1,024 rows and 65,536 tokens per batch.
GPU_BATCH_SIZE, GPU_TOKEN_BUDGET = 1024, 65536
STREAM_CHUNK = 4096  # texts tokenized and held at once on the CPU
GPU_STREAM_CHUNK = 16384  # on a GPU: longer sorted runs, fewer waits for the result
# The CPU defaults above were measured on MiniLM (6 layers, hidden 384): about 10.6M
# multiply-adds per token in its linear layers. A model with fewer gets batches larger by
# the ratio, up to MAX_CPU_SCALE: a tiny model's forward pass costs less than the Python
# and kernel-launch work around it at 32 rows (benchmarks/encode_proxy.py, BENCHMARKS.md).
REFERENCE_MATMUL_PARAMS = 10_600_000
MAX_CPU_SCALE = 4
# Below this many multiply-adds per token, the CPU forward runs on half the intra-op
# threads: its kernels are too small to gain from threads, and the tokenizer thread
# needs a core (BENCHMARKS.md, "Encode pipeline").
SMALL_MODEL_MATMUL_PARAMS = 1_000_000

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


def cpu_batch_scale(info: dict | None) -> int:
    """How many times the CPU batch defaults a model gets: 1 for MiniLM-size and larger."""
    params = (info or {}).get("matmul_params")
    if not params:
        return 1
    return int(min(MAX_CPU_SCALE, max(1, REFERENCE_MATMUL_PARAMS // params)))


def batch_defaults(device, info: dict | None = None) -> tuple[int, int]:
    """``(batch_size, token_budget)`` for ``device``; on the CPU scaled by the model's size."""
    if device.type != "cpu":
        return GPU_BATCH_SIZE, GPU_TOKEN_BUDGET
    scale = cpu_batch_scale(info)
    return CPU_BATCH_SIZE * scale, CPU_TOKEN_BUDGET * scale


def stream_chunk(device) -> int:
    return STREAM_CHUNK if device.type == "cpu" else GPU_STREAM_CHUNK


def _forward(loaded, batch: dict, opts: EncodeOptions):
    """Pooled float32 vectors of one collated batch (tensors on the model's device)."""
    from bertfeat._pooling import pool

    _stats["forward_calls"] += 1
    outputs = loaded.model(**batch, output_hidden_states=opts.layers is not None, return_dict=True)
    positions = opts.max_length if opts.pooling == "tokens" else None
    return pool(outputs, batch["attention_mask"], opts.pooling, opts.layers, opts.layer_agg, positions)


_plain_lock = threading.Lock()
_plain_users, _plain_saved = 0, True
_threads_users, _threads_saved = 0, 0


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


def is_small_model(loaded) -> bool:
    params = loaded.info.get("matmul_params")
    return bool(params) and params < SMALL_MODEL_MATMUL_PARAMS


@contextmanager
def small_model_threads(loaded):
    """A small model's CPU forward on half of torch's intra-op threads (at least one).

    Its kernels are too small to gain from more, and the thread tokenizing the next chunk
    needs a core: measured on the tiny proxy model, see BENCHMARKS.md ("Encode
    pipeline"). Process-wide like the oneDNN switch: first in sets, last out restores.
    """
    import torch

    global _threads_users, _threads_saved
    if loaded.device.type != "cpu" or not is_small_model(loaded):
        yield
        return
    with _plain_lock:
        if _threads_users == 0:
            _threads_saved = torch.get_num_threads()
            torch.set_num_threads(max(1, _threads_saved // 2))
        _threads_users += 1
    try:
        yield
    finally:
        with _plain_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_saved)


def tokenize_chunk(loaded, items: list, is_pair: bool, opts: EncodeOptions):
    return tokenize(loaded.tokenizer, items, is_pair, opts.max_length, opts.truncation, opts.stride, loaded.info["token_types"])


@dataclass
class _Pending:
    """A chunk whose vectors are on their way from the device."""

    windows: object  # HostResult of the window vectors
    owners: np.ndarray
    n_items: int
    normalize: bool


def _launch(loaded, tokenized, n_items: int, opts: EncodeOptions, bar=None) -> _Pending:
    """Queue every batch of one tokenized chunk on the device; the vectors stay there."""
    import torch

    lengths = tokenized.lengths
    if bar is not None:  # a TokenProgress: work counted in tokens
        bar.planned(int(lengths.sum()), n_items)

    def step(batch):
        return _forward(loaded, batch, opts)  # looked up at each call (tests replace it)

    def counted(tokens):
        _stats["batches"] += 1
        if bar is not None:
            bar.update(tokens)

    with torch.inference_mode(), plain_cpu_kernels(loaded), small_model_threads(loaded):
        pad_id = loaded.tokenizer.pad_token_id or 0
        vectors = run_sorted(
            tokenized, loaded.device, pad_id, opts.batch_size, opts.token_budget, step,
            max_length=opts.max_length, on_batch=counted,
        )
        windows = to_host(vectors)
    _stats["texts"] += n_items
    _stats["windows"] += len(tokenized)
    return _Pending(windows, tokenized.owners, n_items, opts.normalize)


def _finish(pending: _Pending) -> np.ndarray:
    """The chunk's float32 vectors in input order: windows averaged per text, normalized."""
    vectors = pending.windows.get()
    if len(vectors) != pending.n_items:  # chunked long texts: average each text's windows
        sums = np.zeros((pending.n_items, vectors.shape[1]), dtype=np.float64)
        np.add.at(sums, pending.owners, vectors)
        counts = np.bincount(pending.owners, minlength=pending.n_items)[:, None]
        vectors = (sums / counts).astype(np.float32)
    if pending.normalize:
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.maximum(norms, 1e-12)
    return np.ascontiguousarray(vectors, dtype=np.float32)


def encode_chunk(loaded, items: list, is_pair: bool, opts: EncodeOptions, bar=None) -> np.ndarray:
    """float32 array ``(len(items), dim)`` for one chunk of distinct inputs."""
    return _finish(_launch(loaded, tokenize_chunk(loaded, items, is_pair, opts), len(items), opts, bar))


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
    """Yield ``(start, vectors)`` for consecutive chunks of ``items``.

    Chunk k+1 is tokenized in a thread while chunk k runs. On CUDA a chunk's vectors are
    collected only after the next chunk is queued, so the device never waits for the host.
    """
    bar = None
    if progress:
        from bertfeat._progress import TokenProgress

        bar = TokenProgress(len(items))
    bounds = chunk_bounds(len(items), stream_chunk(loaded.device))
    try:
        yield from stream_chunks(
            bounds,
            lambda b: tokenize_chunk(loaded, items[b[0] : b[1]], is_pair, opts),
            lambda tokenized, n_items: _launch(loaded, tokenized, n_items, opts, bar),
            _finish,
            defer=loaded.device.type == "cuda",
            after_chunk=release_freed_memory if len(bounds) > 1 else None,
        )
    finally:
        if bar is not None:
            bar.close()
