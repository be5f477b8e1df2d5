"""Run a step (a forward pass and what follows it) over length-sorted batches on a device.

A chunk's tokens travel to the device once (from pinned memory, without waiting, on
CUDA); each batch is collated there by index arithmetic; each step's output goes into
one buffer that stays on the device, in sorted order, and is put back in input order
once at the end. Nothing here waits for the device, so a GPU queue stays full until the
caller asks for the result. On out-of-memory a batch is halved and retried, down to one
window.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

from bertfeat._batching import Tokenized, gather_rows, plan_sorted
from bertfeat._device import is_oom


@dataclass
class DeviceTokens:
    """A chunk's flat tokens on the device (see :class:`bertfeat._batching.Tokenized`)."""

    ids: object
    type_ids: object | None
    starts: object
    lengths: object
    host_lengths: np.ndarray


def upload(array: np.ndarray, device):
    """A host array as a tensor on ``device``; on CUDA through pinned memory, not waited for.

    The pinned block is handed back to torch's host cache only once the copy is done.
    """
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def to_device(tokenized: Tokenized, device) -> DeviceTokens:
    lengths = tokenized.lengths
    types = None if tokenized.type_ids is None else upload(tokenized.type_ids, device)
    return DeviceTokens(
        upload(tokenized.ids, device), types, upload(tokenized.offsets[:-1], device), upload(lengths, device), lengths
    )


def run_sorted(
    tokenized: Tokenized,
    device,
    pad_id: int,
    batch_size: int,
    token_budget: int,
    step: Callable,
    *,
    max_length: int,
    on_batch: Callable | None = None,
):
    """``step(batch)`` for every window, in batches: a float tensor ``(n_windows, d)`` on
    ``device``, in window order.

    ``step`` takes a dict of device tensors (``input_ids``, ``attention_mask``, maybe
    ``token_type_ids``) and returns one row per window. ``on_batch(tokens)`` is called
    after each planned batch with its real token count. ``max_length`` is for the message
    when a single window does not fit in memory.
    """
    import torch

    lengths = tokenized.lengths
    order, bounds = plan_sorted(lengths, batch_size, token_budget)
    tokens = to_device(tokenized, device)
    rows = upload(order, device)
    out = None
    for start, end in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        result = _run_rows(tokens, order, rows, start, end, pad_id, step, device, max_length)
        if out is None:
            out = torch.empty((len(order), result.shape[1]), dtype=result.dtype, device=device)
        out[start:end] = result
        if on_batch is not None:
            on_batch(int(lengths[order[start:end]].sum()))
    if out is None:
        return None
    unsorted = torch.empty_like(out)
    unsorted[rows] = out
    return unsorted


def _run_rows(tokens: DeviceTokens, order, rows, start, end, pad_id, step, device, max_length):
    """Sorted windows ``start:end`` through ``step``; on out-of-memory, halves, down to one."""
    import torch

    width = int(tokens.host_lengths[order[start]])  # sorted longest first
    try:
        batch = gather_rows(tokens.ids, tokens.type_ids, tokens.starts, tokens.lengths, rows[start:end], width, pad_id)
        return step(batch)
    except Exception as error:
        if not is_oom(error):
            raise
        if end - start == 1:
            raise _single_window_oom(error, device, width, max_length) from error
    batch = None  # free what the failed attempt held before trying again
    if device.type == "cuda":
        torch.cuda.empty_cache()
    warnings.warn(
        f"out of memory on a batch of {end - start} windows on {device}; retrying in halves "
        "(lower token_budget to avoid this)",
        RuntimeWarning,
        stacklevel=2,
    )
    mid = (start + end) // 2
    first = _run_rows(tokens, order, rows, start, mid, pad_id, step, device, max_length)
    return torch.cat([first, _run_rows(tokens, order, rows, mid, end, pad_id, step, device, max_length)])


def _single_window_oom(error: BaseException, device, n_tokens: int, max_length: int) -> BaseException:
    """Out of memory with nothing left to halve: say so, and what to change."""
    message = (
        f"out of memory on {device} encoding a single window of {n_tokens} tokens "
        f"(max_length={max_length}); there is no smaller batch to retry. Lower max_length, "
        "use dtype='float16' or 'bfloat16', free memory held by other work, or use device='cpu'. "
        f"Cause: {error}"
    )
    try:
        return type(error)(message)  # same type: callers catching OOM still catch it
    except Exception:
        return RuntimeError(message)


@dataclass
class HostResult:
    """A device tensor on its way to the host: ``get()`` waits for it (CUDA) and gives numpy."""

    tensor: object
    event: object = None

    def get(self) -> np.ndarray:
        if self.event is None:
            return self.tensor.numpy()
        self.event.synchronize()
        return self.tensor.numpy().copy()  # the pinned block goes back to torch's cache


def to_host(tensor) -> HostResult:
    """Start copying ``tensor`` to the host; on CUDA into pinned memory, without waiting."""
    import torch

    if tensor.device.type != "cuda":
        return HostResult(tensor.cpu())
    host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
    host.copy_(tensor, non_blocking=True)
    event = torch.cuda.Event()
    event.record()
    return HostResult(host, event)
