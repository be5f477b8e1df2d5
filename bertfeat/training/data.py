"""Training data for :func:`bertfeat.training.loop.fit_loop`: each kind knows its batch
order and its forward pass.

- :class:`TokenData`: tokenized texts for the fine-tuned transformers. Batches use
  dynamic padding (each batch padded to its own longest row); rows are grouped by
  length inside shuffled groups of ``GROUP_BATCHES`` batches (little padding, yet
  different batches each epoch), and the batch order is shuffled, all from one seeded
  ``torch.Generator``.
- :class:`TokenLabelData`: the same windows with one label per sub-token (``-100`` where
  none), for token classification; logits and targets are ``(rows, tokens, ...)``.
- :class:`ArrayData`: a float matrix for the MLP heads. Each epoch is a fresh
  permutation seeded by ``seed + epoch - 1``; dropout masks come from a generator
  seeded the same way, so torch's global random state is never read.
- :class:`PairData`: pairs of tokenized texts and a similarity target, for contrastive
  fine-tuning of an encoder (:mod:`bertfeat.contrastive`). Each text is tokenized once
  however many pairs it is in; a batch encodes each of its distinct texts once and
  returns the cosine similarity of each pair's pooled vectors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from bertfeat._batching import Tokenized, collate, plan_batches
from bertfeat._pooling import pool
from bertfeat._run import run_sorted
from bertfeat.training.loop import autocast

GROUP_BATCHES = 50  # rows are length-sorted within random groups of this many batches


@dataclass(frozen=True)
class Runtime:
    """Where and how a transformer's forward passes run (training and inference alike)."""

    device: torch.device
    dtype: torch.dtype  # autocast dtype; float32 means no autocast
    pad_id: int
    eval_batch_size: int
    eval_token_budget: int


# -- token rows ------------------------------------------------------------------------
def count_batches(n_rows: int, batch_size: int) -> int:
    """Batches per epoch of :func:`grouped_batches` (the same every epoch)."""
    group = batch_size * GROUP_BATCHES
    full, rest = divmod(n_rows, group)
    return full * GROUP_BATCHES + math.ceil(rest / batch_size)


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


def _to_device(tensors: dict, device) -> dict:
    return {k: v.to(device) for k, v in tensors.items()}


def predict_logits(module, tokenized: Tokenized, runtime: Runtime) -> torch.Tensor:
    """float32 logits on the device, in input order (eval mode, no gradients): the
    inference path of :mod:`bertfeat._run` (sorted batches collated on the device)."""
    module.eval()
    if not len(tokenized):
        return torch.empty((0, module.config.num_labels))
    with torch.inference_mode(), autocast(runtime.device, runtime.dtype):
        return run_sorted(
            tokenized, runtime.device, runtime.pad_id, runtime.eval_batch_size, runtime.eval_token_budget,
            lambda batch: module(**batch).logits.float(), max_length=int(tokenized.lengths.max()),
        )


@dataclass
class TokenData:
    """Tokenized rows and their targets (a tensor on the CPU), for a transformer with a head.

    ``generator`` orders the training batches (one generator across all epochs); it is
    not needed for validation data.
    """

    tokenized: Tokenized
    targets: torch.Tensor
    runtime: Runtime
    generator: torch.Generator | None = None

    def __len__(self) -> int:
        return len(self.tokenized)

    @classmethod
    def take(cls, tokenized: Tokenized, targets: torch.Tensor, index: np.ndarray, runtime: Runtime, generator=None):
        """The rows ``index`` of ``tokenized`` and ``targets``."""
        index = np.asarray(index, dtype=np.int64)
        return cls(tokenized.take(index), targets[torch.from_numpy(index)], runtime, generator)

    def n_batches(self, batch_size: int) -> int:
        return count_batches(len(self), batch_size)

    def epoch_batches(self, epoch: int, batch_size: int) -> list[np.ndarray]:
        return grouped_batches(self.tokenized.lengths, batch_size, self.generator)

    def forward(self, module, index: np.ndarray, device: torch.device) -> torch.Tensor:
        return module(**_to_device(collate(self.tokenized, index, self.runtime.pad_id), device)).logits

    def predict(self, module) -> torch.Tensor:
        return predict_logits(module, self.tokenized, self.runtime).cpu()


# -- token rows with a label per sub-token ------------------------------------------------
def predict_token_logits(module, tokenized: Tokenized, runtime: Runtime, rows: np.ndarray, positions: np.ndarray):
    """float32 logits ``(len(rows), num_labels)`` at sub-token ``positions[i]`` of window
    ``rows[i]`` (eval mode, no gradients); only the asked positions leave the device."""
    module.eval()
    rows, positions = np.asarray(rows, dtype=np.int64), np.asarray(positions, dtype=np.int64)
    out = torch.zeros((len(rows), module.config.num_labels), dtype=torch.float32)
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    with torch.inference_mode(), autocast(runtime.device, runtime.dtype):
        for index in plan_batches(tokenized.lengths, runtime.eval_batch_size, runtime.eval_token_budget):
            # The asked positions in this batch's windows: (slot in batch, position, slot in out).
            lo = np.searchsorted(sorted_rows, index, side="left")
            hi = np.searchsorted(sorted_rows, index, side="right")
            picks = [order[a:b] for a, b in zip(lo, hi)]
            batch_slot = np.repeat(np.arange(len(index)), [len(p) for p in picks])
            wanted = np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)
            if not len(wanted):
                continue
            logits = module(**_to_device(collate(tokenized, index, runtime.pad_id), runtime.device)).logits
            at = logits[torch.from_numpy(batch_slot).to(logits.device), torch.from_numpy(positions[wanted]).to(logits.device)]
            out[torch.from_numpy(wanted)] = at.float().cpu()
    return out


@dataclass
class TokenLabelData(TokenData):
    """Token windows and their per-sub-token labels, for a token-classification model.

    ``targets`` is ``(n_windows, longest window)``, padded with ``-100``; ``forward`` gives
    ``(batch, batch's longest, num_labels)`` logits (the loss cuts the targets to that
    width) and ``predict`` the logits at every labelled sub-token, zeros elsewhere.
    """

    @classmethod
    def from_labels(cls, tokenized: Tokenized, labels: list[np.ndarray], runtime: Runtime, generator=None):
        width = max((len(row) for row in labels), default=1)
        targets = np.full((len(labels), width), -100, dtype=np.int64)
        for i, row in enumerate(labels):
            targets[i, : len(row)] = row
        return cls(tokenized, torch.from_numpy(targets), runtime, generator)

    def predict(self, module) -> torch.Tensor:
        rows, positions = torch.nonzero(self.targets != -100, as_tuple=True)
        picked = predict_token_logits(module, self.tokenized, self.runtime, rows.numpy(), positions.numpy())
        out = torch.zeros((*self.targets.shape, picked.shape[1]), dtype=torch.float32)
        out[rows, positions] = picked
        return out


# -- a float matrix ----------------------------------------------------------------------
@dataclass
class ArrayData:
    """A float32 matrix ``X`` and its targets, for a module called as ``module(x, generator)``."""

    X: torch.Tensor
    targets: torch.Tensor
    seed: int  # epoch e shuffles (and draws dropout masks) with seed + e - 1
    device: torch.device
    eval_batch_size: int = 1024

    def __post_init__(self):
        self._dropout = None

    def __len__(self) -> int:
        return len(self.X)

    def n_batches(self, batch_size: int) -> int:
        return math.ceil(len(self) / batch_size)

    def epoch_batches(self, epoch: int, batch_size: int) -> list[torch.Tensor]:
        seed = self.seed + epoch - 1
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        self._dropout = torch.Generator(device=self.device).manual_seed(seed)
        return list(order.split(batch_size))

    def forward(self, module, index: torch.Tensor, device: torch.device) -> torch.Tensor:
        return module(self.X[index].to(device), self._dropout)

    def predict(self, module) -> torch.Tensor:
        return predict_array(module, self.X, self.device, self.eval_batch_size).float().cpu()


def predict_array(module, X: torch.Tensor, device: torch.device, batch_size: int) -> torch.Tensor:
    """The module's output on every row of ``X`` (eval mode, no gradients), on ``device``."""
    module.eval()
    with torch.inference_mode():
        return torch.cat([module(xb.to(device)) for xb in X.split(batch_size)])


# -- pairs of texts ----------------------------------------------------------------------
@dataclass
class PairData:
    """Pairs of texts (row indices into ``tokenized``) and float targets, for an encoder.

    ``forward`` returns the cosine similarity of each pair's pooled vectors (``pooling``
    of the last layer, as :mod:`bertfeat._pooling` pools at inference), so that the
    loss compares it with the target. ``generator`` shuffles the pairs every epoch.
    """

    tokenized: Tokenized  # one row per text (no windows)
    pairs: np.ndarray  # (n_pairs, 2) int64
    targets: torch.Tensor  # (n_pairs,) float32
    runtime: Runtime
    pooling: str
    generator: torch.Generator | None = None

    def __len__(self) -> int:
        return len(self.pairs)

    def n_batches(self, batch_size: int) -> int:
        return math.ceil(len(self) / batch_size)

    def epoch_batches(self, epoch: int, batch_size: int) -> list[np.ndarray]:
        order = torch.randperm(len(self), generator=self.generator).numpy()
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]

    def forward(self, module, index: np.ndarray, device: torch.device) -> torch.Tensor:
        texts, slots = np.unique(self.pairs[index].ravel(), return_inverse=True)
        tensors = _to_device(collate(self.tokenized, texts, self.runtime.pad_id), device)
        outputs = module(**tensors, return_dict=True)
        vectors = pool(outputs, tensors["attention_mask"], self.pooling, None, "mean")
        slots = torch.from_numpy(slots.reshape(-1, 2)).to(device)
        return torch.nn.functional.cosine_similarity(vectors[slots[:, 0]], vectors[slots[:, 1]], dim=-1)

    def predict(self, module) -> torch.Tensor:
        module.eval()
        size = self.runtime.eval_batch_size
        with torch.inference_mode(), autocast(self.runtime.device, self.runtime.dtype):
            parts = [
                self.forward(module, np.arange(start, min(start + size, len(self))), self.runtime.device).float().cpu()
                for start in range(0, len(self), size)
            ]
        return torch.cat(parts) if parts else torch.empty(0)
