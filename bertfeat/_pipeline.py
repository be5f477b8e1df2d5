"""Work on the next chunk while the caller handles this one: an ordered prefetch in one thread.

Tokenization runs in Rust without the GIL, so a thread that tokenizes chunk k+1 while
the model runs chunk k keeps both busy. At most ``ahead`` finished results wait (memory
stays bounded), results come in input order, an error comes out where its result would
have, and closing the generator stops the thread.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Iterator, Sequence


def chunk_bounds(n: int, size: int) -> list[tuple[int, int]]:
    """``(start, end)`` of consecutive chunks of ``n`` items.

    The first chunk is a quarter of ``size``: its tokenization cannot overlap anything, so
    a small one lets the device start early; the later ones are full size (longer sorted
    runs, fewer partly filled batches).
    """
    size = max(1, int(size))
    first = max(1, size // 4)
    bounds, start = [], 0
    while start < n:
        end = min(n, start + (first if start == 0 else size))
        bounds.append((start, end))
        start = end
    return bounds


def prefetched(fn: Callable, args: Sequence, ahead: int = 1) -> Iterator:
    """``fn(arg)`` for each of ``args`` in order, computed one step ahead in a thread."""
    if len(args) <= 1:  # nothing to overlap: no thread
        for arg in args:
            yield fn(arg)
        return
    results: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def work() -> None:
        for arg in args:
            if stop.is_set():
                return
            try:
                item = (True, fn(arg))
            except BaseException as error:  # handed to the caller, in order
                item = (False, error)
            while not stop.is_set():
                try:
                    results.put(item, timeout=0.05)
                    break
                except queue.Full:
                    continue
            if not item[0]:
                return

    worker = threading.Thread(target=work, name="bertfeat-prefetch", daemon=True)
    worker.start()
    try:
        for _ in args:
            ok, value = results.get()
            if not ok:
                raise value
            yield value
    finally:
        stop.set()
        worker.join()  # at most the chunk it is working on


def stream_chunks(
    bounds: list[tuple[int, int]],
    tokenize: Callable,
    launch: Callable,
    finish: Callable,
    *,
    defer: bool,
    after_chunk: Callable | None = None,
) -> Iterator:
    """Yield ``(start, finish(launch(tokenize((start, end)), end - start)))`` per chunk.

    ``tokenize`` runs one chunk ahead in a thread. ``launch`` queues the device work of a
    chunk and ``finish`` waits for its result; with ``defer`` (CUDA) a chunk is finished
    only after the next one is launched, so the device always has work queued.
    ``after_chunk`` runs after each chunk is yielded, when nothing is deferred.
    """
    chunks = prefetched(tokenize, bounds)
    pending = None
    try:
        for (start, end), tokens in zip(bounds, chunks):
            launched = (start, launch(tokens, end - start))
            if pending is not None:
                yield pending[0], finish(pending[1])
            pending = launched
            if not defer:
                yield pending[0], finish(pending[1])
                pending = None
                if after_chunk is not None:
                    after_chunk()
        if pending is not None:
            yield pending[0], finish(pending[1])
    finally:
        chunks.close()
