"""Tokenize once, sort by length, cut into batches under a token budget.

Long texts either keep their head (``truncation="head"``) or are cut into
overlapping windows (``truncation="chunk"``) so that every token is read; each
window remembers which text it belongs to (``owners``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TRUNCATIONS = ("head", "chunk")


@dataclass
class Tokenized:
    """Token ids of every window, and the index of the input each window belongs to."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None
    owners: np.ndarray  # (n_windows,) int, index into the input list

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self.input_ids))


def tokenize(
    tokenizer, items: list, is_pair: bool, max_length: int, truncation: str, stride: int, token_types: bool = True
) -> Tokenized:
    """One tokenizer call for the whole list (fast tokenizers batch this in Rust).

    ``token_types``: whether the model takes segment ids (BERT does, DistilBERT does not).
    """
    if not items:
        return Tokenized([], None, np.zeros(0, dtype=np.int64))
    kwargs = dict(
        max_length=max_length,
        padding=False,
        return_attention_mask=False,
        return_token_type_ids=token_types and "token_type_ids" in tokenizer.model_input_names,
    )
    if is_pair:
        args = ([a for a, _ in items], [b for _, b in items])
    else:
        args = (items,)
    if truncation == "chunk":
        # Fast tokenizers can window only one side of a pair: the second text.
        if is_pair:
            args = (_first_text_heads(tokenizer, items, max_length, stride), args[1])
        kwargs.update(
            truncation="only_second" if is_pair else True,
            return_overflowing_tokens=True,
            stride=stride,
        )
        enc = tokenizer(*args, **kwargs)
        owners = np.asarray(enc["overflow_to_sample_mapping"], dtype=np.int64)
    else:
        enc = tokenizer(*args, truncation=True, **kwargs)
        owners = np.arange(len(items), dtype=np.int64)
    return Tokenized(enc["input_ids"], enc.get("token_type_ids"), owners)


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


def plan_batches(lengths: np.ndarray, max_batch_size: int, token_budget: int) -> list[np.ndarray]:
    """Indices of each batch: longest first, each batch padded to its own longest.

    A batch grows while ``rows * longest <= token_budget`` (padded tokens, the real
    memory cost) and ``rows <= max_batch_size``. A single window longer than the
    budget still forms a batch of one.
    """
    order = np.argsort(-lengths, kind="stable")
    batches = []
    start = 0
    n = len(order)
    while start < n:
        longest = int(lengths[order[start]])
        rows = max(1, min(max_batch_size, token_budget // max(longest, 1)))
        batches.append(order[start : start + rows])
        start += rows
    return batches


def collate(tokenized: Tokenized, index: np.ndarray, pad_id: int) -> dict[str, np.ndarray]:
    """Pad the windows in ``index`` to the longest of them."""
    rows = [tokenized.input_ids[i] for i in index]
    width = max(len(r) for r in rows)
    input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    attention = np.zeros((len(rows), width), dtype=np.int64)
    for r, ids in enumerate(rows):
        input_ids[r, : len(ids)] = ids
        attention[r, : len(ids)] = 1
    out = {"input_ids": input_ids, "attention_mask": attention}
    if tokenized.token_type_ids is not None:
        types = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(index):
            tt = tokenized.token_type_ids[i]
            types[r, : len(tt)] = tt
        out["token_type_ids"] = types
    return out
