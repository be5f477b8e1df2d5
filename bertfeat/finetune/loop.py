"""The training loop: batches in, optimizer steps out. Everything else is a callback.

Batches use dynamic padding: each batch is padded to its own longest row. Rows are
grouped by length inside shuffled groups of ``GROUP_BATCHES`` batches (little padding,
yet different batches each epoch), and the batch order is shuffled, all from one seeded
``torch.Generator``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from bertfeat._batching import Tokenized, collate, plan_batches

GROUP_BATCHES = 50  # rows are length-sorted within random groups of this many batches


@dataclass
class Split:
    """Tokenized rows and their targets (a tensor on the CPU)."""

    tokenized: Tokenized
    targets: torch.Tensor

    def __len__(self) -> int:
        return len(self.tokenized.input_ids)

    @classmethod
    def take(cls, tokenized: Tokenized, targets: torch.Tensor, index: np.ndarray) -> Split:
        types = tokenized.token_type_ids
        part = Tokenized(
            [tokenized.input_ids[i] for i in index],
            None if types is None else [types[i] for i in index],
            np.arange(len(index), dtype=np.int64),
        )
        return cls(part, targets[torch.from_numpy(np.asarray(index, dtype=np.int64))])


@dataclass(frozen=True)
class Runtime:
    """Where and how forward passes run (training and inference alike)."""

    device: torch.device
    dtype: torch.dtype  # autocast dtype; float32 means no autocast
    pad_id: int
    eval_batch_size: int
    eval_token_budget: int


@dataclass(frozen=True)
class LoopConfig:
    max_epochs: int
    batch_size: int
    accumulation: int
    max_grad_norm: float | None
    runtime: Runtime


@dataclass
class TrainState:
    """What callbacks see: the model and optimizer, counters, and the current epoch's row."""

    module: Any
    optimizer: Any
    scheduler: Any
    max_epochs: int
    steps_per_epoch: int
    epoch: int = 0
    step: int = 0  # optimizer steps so far
    lr: float = 0.0  # learning rate used by the latest step
    batch_loss: float = math.nan
    row: dict = field(default_factory=dict)
    valid_logits: torch.Tensor | None = None
    valid_targets: torch.Tensor | None = None
    stop: bool = False
    best_epoch: int | None = None


# -- optimizer and schedule ----------------------------------------------------------
def decay_groups(module, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on weight matrices, not on biases or LayerNorm weights."""
    decay, no_decay = [], []
    for submodule in module.modules():
        is_norm = isinstance(submodule, torch.nn.LayerNorm) or "norm" in type(submodule).__name__.lower()
        for name, param in submodule.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            (no_decay if is_norm or name == "bias" else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(module, learning_rate: float, weight_decay: float, total_steps: int, warmup_ratio: float):
    """AdamW, linear warmup over ``warmup_ratio`` of the steps, then linear decay to 0."""
    from transformers import get_linear_schedule_with_warmup

    device = next(module.parameters()).device
    # The fused kernel: one pass over each tensor, measured 3x faster than foreach on CPU.
    fused = device.type in ("cpu", "cuda")
    optimizer = torch.optim.AdamW(decay_groups(module, weight_decay), lr=learning_rate, fused=fused)
    warmup = int(math.ceil(warmup_ratio * total_steps))
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup, total_steps)
    return optimizer, scheduler


# -- batches -------------------------------------------------------------------------
def count_batches(n_rows: int, batch_size: int) -> int:
    """Batches per epoch of :func:`grouped_batches` (the same every epoch)."""
    group = batch_size * GROUP_BATCHES
    full, rest = divmod(n_rows, group)
    return full * GROUP_BATCHES + math.ceil(rest / batch_size)


def steps_per_epoch(n_rows: int, batch_size: int, accumulation: int) -> int:
    """Optimizer steps per epoch: one every ``accumulation`` batches, and one at the end."""
    return math.ceil(count_batches(n_rows, batch_size) / accumulation)


def grouped_batches(lengths: np.ndarray, batch_size: int, generator: torch.Generator) -> list[np.ndarray]:
    """One epoch's batches: similar lengths together, random groups, random order."""
    order = torch.randperm(len(lengths), generator=generator).numpy()
    group = batch_size * GROUP_BATCHES
    batches = []
    for start in range(0, len(order), group):
        rows = order[start : start + group]
        # A budget of batch_size x longest keeps every batch at batch_size rows.
        budget = batch_size * int(lengths[rows].max())
        batches.extend(rows[b] for b in plan_batches(lengths[rows], batch_size, budget))
    shuffle = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffle]


def _to_device(arrays: dict, device) -> dict:
    return {k: torch.from_numpy(v).to(device) for k, v in arrays.items()}


def _autocast(runtime: Runtime):
    if runtime.dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(runtime.device.type, dtype=runtime.dtype)


# -- forward passes ------------------------------------------------------------------
def predict_logits(module, tokenized: Tokenized, runtime: Runtime) -> torch.Tensor:
    """float32 logits on the CPU, in input order (eval mode, no gradients)."""
    module.eval()
    n = len(tokenized.input_ids)
    out = None
    with torch.inference_mode(), _autocast(runtime):
        for index in plan_batches(tokenized.lengths, runtime.eval_batch_size, runtime.eval_token_budget):
            logits = module(**_to_device(collate(tokenized, index, runtime.pad_id), runtime.device)).logits
            if out is None:
                out = torch.empty((n, logits.shape[1]), dtype=torch.float32)
            out[torch.from_numpy(index)] = logits.float().cpu()
    return out if out is not None else torch.empty((0, module.config.num_labels))


def _notify(callbacks, hook: str, state: TrainState) -> None:
    for callback in callbacks:
        getattr(callback, hook)(state)


def _train_epoch(state: TrainState, train: Split, loss_fn, config: LoopConfig, generator, scaler, callbacks) -> float:
    module, optimizer, runtime = state.module, state.optimizer, config.runtime
    module.train()
    batches = grouped_batches(train.tokenized.lengths, config.batch_size, generator)
    total, seen = 0.0, 0
    optimizer.zero_grad(set_to_none=True)
    for i, index in enumerate(batches):
        inputs = _to_device(collate(train.tokenized, index, runtime.pad_id), runtime.device)
        with _autocast(runtime):
            logits = module(**inputs).logits
        loss = loss_fn(logits.float(), train.targets[torch.from_numpy(index)].to(runtime.device))
        scaler.scale(loss / config.accumulation).backward()
        total += loss.item() * len(index)
        seen += len(index)
        if (i + 1) % config.accumulation and i + 1 < len(batches):
            continue
        if config.max_grad_norm is not None:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(module.parameters(), config.max_grad_norm)
        state.lr = optimizer.param_groups[0]["lr"]
        scaler.step(optimizer)
        scaler.update()
        state.scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        state.step += 1
        state.batch_loss = loss.item()
        _notify(callbacks, "on_step_end", state)
    return total / max(seen, 1)


def fit_loop(
    module,
    train: Split,
    valid: Split | None,
    loss_fn: Callable,
    config: LoopConfig,
    optimizer,
    scheduler,
    callbacks: list,
    generator: torch.Generator,
) -> TrainState:
    """Train ``module`` in place for up to ``config.max_epochs`` epochs; returns the final state."""
    steps = steps_per_epoch(len(train), config.batch_size, config.accumulation)
    state = TrainState(module, optimizer, scheduler, config.max_epochs, steps)
    runtime = config.runtime
    scaler = torch.amp.GradScaler(runtime.device.type, enabled=runtime.dtype == torch.float16)
    _notify(callbacks, "on_train_begin", state)
    for epoch in range(1, config.max_epochs + 1):
        state.epoch = epoch
        started = time.perf_counter()
        _notify(callbacks, "on_epoch_begin", state)
        row = {"epoch": epoch, "train_loss": _train_epoch(state, train, loss_fn, config, generator, scaler, callbacks)}
        if valid is not None:
            state.valid_logits = predict_logits(module, valid.tokenized, runtime)
            state.valid_targets = valid.targets
            row["valid_loss"] = float(loss_fn(state.valid_logits, valid.targets))
        row["lr"] = state.lr
        row["seconds"] = time.perf_counter() - started
        state.row = row
        _notify(callbacks, "on_epoch_end", state)
        if state.stop:
            break
    module.eval()
    _notify(callbacks, "on_train_end", state)
    return state
