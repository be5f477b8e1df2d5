"""Tokenize once into flat arrays, sort by length, cut into batches under a token budget.

Long texts either keep their head (``truncation="head"``) or are cut into
overlapping windows (``truncation="chunk"``) so that every token is read; each
window remembers which text it belongs to (``owners``). Tokens are held flat (one
array of ids and the offset of each window), so that a batch is collated by index
arithmetic on whichever device holds them, with no loop over rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bertfeat._tokenize import backend_for, encode_flat, flatten

TRUNCATIONS = ("head", "chunk")


@dataclass
class Tokenized:
    """Every window's token ids one after another, where each starts, and its input.

    ``type_ids`` is None where the model takes no segment ids or they are all zero.
    """

    ids: np.ndarray  # (n_tokens,) int64
    type_ids: np.ndarray | None  # (n_tokens,) int64, or None
    offsets: np.ndarray  # (n_windows + 1,) int64: window i is ids[offsets[i]:offsets[i + 1]]
    owners: np.ndarray  # (n_windows,) int64, index into the input list

    def __len__(self) -> int:
        return len(self.owners)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @classmethod
    def from_rows(cls, input_ids: list[list[int]], type_ids: list[list[int]] | None, owners) -> Tokenized:
        """From one list of ids per window (windows cut by hand, as the word taggers do)."""
        ids, offsets = flatten(input_ids)
        types = None if type_ids is None else flatten(type_ids)[0]
        return cls(ids, types, offsets, np.asarray(owners, dtype=np.int64))

    def window(self, i: int) -> list[int]:
        """The ids of window ``i`` (for tests and messages)."""
        return self.ids[self.offsets[i] : self.offsets[i + 1]].tolist()

    def take(self, index: np.ndarray) -> Tokenized:
        """The windows ``index``, in that order, owned by ``0 .. len(index) - 1``."""
        index = np.asarray(index, dtype=np.int64)
        lengths = self.lengths[index]
        offsets = np.zeros(len(index) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        # Source position of every kept token: its window's start plus its place in the window.
        source = np.repeat(self.offsets[:-1][index] - offsets[:-1], lengths) + np.arange(offsets[-1])
        types = None if self.type_ids is None else self.type_ids[source]
        return Tokenized(self.ids[source], types, offsets, np.arange(len(index), dtype=np.int64))


def tokenize(
    tokenizer, items: list, is_pair: bool, max_length: int, truncation: str, stride: int, token_types: bool = True
) -> Tokenized:
    """Every window of ``items``, with the tokens the tokenizer's own call gives.

    ``token_types``: whether the model takes segment ids (BERT does, DistilBERT does not).
    """
    if not items:
        return Tokenized(np.zeros(0, np.int64), None, np.zeros(1, np.int64), np.zeros(0, np.int64))
    chunk = truncation == "chunk"
    if chunk and is_pair:
        # Fast tokenizers can window only one side of a pair: the second text.
        items = list(zip(_first_text_heads(tokenizer, items, max_length, stride), (b for _, b in items)))
    strategy = "only_second" if chunk and is_pair else "longest_first"
    stride = stride if chunk else 0
    token_types = token_types and "token_type_ids" in tokenizer.model_input_names
    backend = backend_for(tokenizer, max_length, stride, strategy, chunk, is_pair)
    if backend is not None:
        return Tokenized(*encode_flat(backend, items, is_pair, chunk, token_types))
    return _tokenize_by_call(tokenizer, items, is_pair, max_length, strategy, stride, chunk, token_types)


def _tokenize_by_call(tokenizer, items, is_pair, max_length, strategy, stride, chunk, token_types) -> Tokenized:
    """The tokenizer's own call: for tokenizers without a Rust backend that agrees."""
    args = ([a for a, _ in items], [b for _, b in items]) if is_pair else (items,)
    enc = tokenizer(
        *args, max_length=max_length, truncation=strategy, stride=stride, padding=False,
        return_overflowing_tokens=chunk, return_attention_mask=False, return_token_type_ids=token_types,
    )
    owners = np.asarray(enc["overflow_to_sample_mapping"], dtype=np.int64) if chunk else np.arange(len(items), dtype=np.int64)
    ids, offsets = flatten(enc["input_ids"])
    types = flatten(enc["token_type_ids"])[0] if token_types else None
    return Tokenized(ids, types, offsets, owners)


def resolve_max_length(max_length: int | None, limit: int, tokenizer, is_pair: bool) -> tuple[int, int]:
    """The ``max_length`` parameter checked against the model: ``(tokens per window, special tokens)``.

    None means the model's maximum ``limit``.
    """
    resolved = limit if max_length is None else int(max_length)
    if resolved > limit:
        raise ValueError(f"max_length={resolved} is more than the model's maximum of {limit} tokens")
    n_special = tokenizer.num_special_tokens_to_add(pair=is_pair)
    if resolved <= n_special:
        raise ValueError(f"max_length={resolved} leaves no room for text next to {n_special} special tokens")
    return resolved, n_special


def _first_text_heads(tokenizer, items: list, max_length: int, stride: int) -> list[str]:
    """First texts of windowed pairs, cut to a head that leaves the second text room.

    A first text may use at most half of the window (and always leaves ``stride + 1``
    tokens), so that the second text's windows move forward by a useful step. Without
    this the tokenizer fails on the whole batch ("Truncation error: Sequence to
    truncate too short") as soon as one first text is longer than the window.
    """
    room = max_length - tokenizer.num_special_tokens_to_add(pair=True)
    cap = max(0, room - max(stride + 1, (room + 1) // 2))
    firsts = [a for a, _ in items]
    if not getattr(tokenizer, "is_fast", False):  # no offsets: cut by decoding the kept ids
        enc = tokenizer(firsts, add_special_tokens=False)
        return [a if len(ids) <= cap else tokenizer.decode(ids[:cap]) for a, ids in zip(firsts, enc["input_ids"])]
    enc = tokenizer(firsts, add_special_tokens=False, return_offsets_mapping=True)
    out = []
    for a, ids, offsets in zip(firsts, enc["input_ids"], enc["offset_mapping"]):
        for _ in range(8):  # re-tokenizing a cut text can (rarely, BPE) give a token more
            if len(ids) <= cap:
                break
            a = a[: offsets[cap - 1][1]] if cap > 0 else ""
            again = tokenizer(a, add_special_tokens=False, return_offsets_mapping=True)
            ids, offsets = again["input_ids"], again["offset_mapping"]
        else:
            a = ""
        out.append(a)
    return out


def plan_sorted(lengths: np.ndarray, max_batch_size: int, token_budget: int) -> tuple[np.ndarray, np.ndarray]:
    """Longest first: ``(order, bounds)``; batch ``b`` is ``order[bounds[b]:bounds[b + 1]]``.

    A batch grows while ``rows * longest <= token_budget`` (padded tokens, the real
    memory cost) and ``rows <= max_batch_size``. A single window longer than the
    budget still forms a batch of one.
    """
    order = np.argsort(-lengths, kind="stable")
    bounds = [0]
    n = len(order)
    while bounds[-1] < n:
        longest = int(lengths[order[bounds[-1]]])
        rows = max(1, min(max_batch_size, token_budget // max(longest, 1)))
        bounds.append(min(n, bounds[-1] + rows))
    return order, np.asarray(bounds, dtype=np.int64)


def plan_batches(lengths: np.ndarray, max_batch_size: int, token_budget: int) -> list[np.ndarray]:
    """Indices of each batch, longest first (see :func:`plan_sorted`)."""
    order, bounds = plan_sorted(lengths, max_batch_size, token_budget)
    return [order[s:e] for s, e in zip(bounds[:-1], bounds[1:])]


def gather_rows(ids, type_ids, offsets, lengths, rows, width: int, pad_id: int) -> dict:
    """Tensors of the windows ``rows`` padded to ``width``, gathered on the tensors' device.

    ``ids``/``type_ids`` are the flat tokens, ``offsets``/``lengths`` per window, ``rows``
    a LongTensor of window indices; ``width`` is known on the host, so nothing waits for
    the device.
    """
    import torch

    positions = torch.arange(width, device=ids.device)
    attention = positions < lengths[rows].unsqueeze(1)
    # Padding positions read the first token (any valid index), then are overwritten.
    source = torch.where(attention, offsets[rows].unsqueeze(1) + positions, 0)
    out = {"input_ids": torch.where(attention, ids[source], pad_id), "attention_mask": attention.long()}
    if type_ids is not None:
        out["token_type_ids"] = torch.where(attention, type_ids[source], 0)
    return out


def collate(tokenized: Tokenized, index: np.ndarray, pad_id: int) -> dict:
    """CPU tensors of the windows ``index`` padded to the longest of them."""
    import torch

    def tensor(a):
        return None if a is None else torch.from_numpy(a)

    width = int(tokenized.lengths[index].max())
    return gather_rows(
        tensor(tokenized.ids), tensor(tokenized.type_ids), tensor(tokenized.offsets[:-1]), tensor(tokenized.lengths),
        torch.from_numpy(np.asarray(index, dtype=np.int64)), width, pad_id,
    )
