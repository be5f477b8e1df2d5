"""Contextual word vectors from a frozen encoder: each word's hidden state(s) read in the
window :mod:`bertfeat.tokens._align` chose for it, and their disk-cache keys.

The forward pass is the vectorizer's (``_batching.collate`` / ``plan_batches`` batches
under a token budget, fp32 oneDNN switch of ``_encode``, layers combined by
``_pooling.combine_layers``); only the last step differs: instead of pooling a window
into one vector, each word takes its first sub-token's state, or the mean over its
sub-tokens.
"""

from __future__ import annotations

import hashlib
import struct
import warnings

import numpy as np

from bertfeat._batching import collate, plan_batches
from bertfeat._cache import KEY_BYTES
from bertfeat._encode import plain_cpu_kernels
from bertfeat._pooling import combine_layers
from bertfeat.tokens._align import WordWindows

WORD_VECTORS = ("first", "mean")


def word_key(words: list[str], index: int) -> bytes:
    """16-byte cache key of word ``index`` in its sentence: the whole sentence is in the
    key (the vector depends on its context), each word length-prefixed (unambiguous)."""
    h = hashlib.blake2b(digest_size=KEY_BYTES)
    h.update(b"w" + struct.pack("<QQ", index, len(words)))
    for word in words:
        data = word.encode("utf-8", "surrogatepass")
        h.update(struct.pack("<Q", len(data)) + data)
    return h.digest()


def _gather(states: list, slots: np.ndarray, positions: np.ndarray, spans: np.ndarray, word_vector: str, layer_agg: str):
    """Word vectors from each layer's ``(batch, tokens, hidden)`` states, layers combined."""
    import torch

    device = states[0].device
    rows = torch.from_numpy(slots).to(device)
    if word_vector == "first":
        cols = torch.from_numpy(positions).to(device)
        picked = [h[rows, cols].float() for h in states]
    else:
        # Every sub-token of every word: (batch slot, position) pairs, summed per word.
        counts = torch.from_numpy(spans).to(device)
        owner = torch.repeat_interleave(torch.arange(len(spans), device=device), counts)
        starts = torch.repeat_interleave(torch.from_numpy(positions).to(device), counts)
        within = torch.arange(len(owner), device=device) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        token_rows, token_cols = rows[owner], starts + within
        picked = []
        for h in states:
            sums = torch.zeros((len(spans), h.shape[-1]), dtype=torch.float32, device=device)
            sums.index_add_(0, owner, h[token_rows, token_cols].float())
            picked.append(sums / counts.unsqueeze(1).float())
    return combine_layers(picked, layer_agg)


def _forward(loaded, windows: WordWindows, index: np.ndarray, words: tuple, layers, word_vector: str, layer_agg: str):
    """Vectors of the words read in windows ``index`` (``words``: their numbers, batch
    slots, positions, spans); on out-of-memory the batch is halved and retried."""
    import torch

    from bertfeat._device import is_oom

    numbers, slots, positions, spans = words
    pad_id = loaded.tokenizer.pad_token_id or 0
    try:
        tensors = {k: v.to(loaded.device) for k, v in collate(windows.tokenized, index, pad_id).items()}
        out = loaded.model(**tensors, output_hidden_states=layers is not None, return_dict=True)
        states = [out.last_hidden_state] if layers is None else [out.hidden_states[i] for i in layers]
        return _gather(states, slots, positions, spans, word_vector, layer_agg).cpu()
    except Exception as error:
        if not is_oom(error) or len(index) == 1:
            raise
    if loaded.device.type == "cuda":
        torch.cuda.empty_cache()
    warnings.warn(f"out of memory on a batch of {len(index)} windows on {loaded.device}; retrying in halves", RuntimeWarning, stacklevel=2)
    half = len(index) // 2
    parts = []
    for part, shift in ((index[:half], 0), (index[half:], half)):
        keep = (slots >= shift) & (slots < shift + len(part))
        sub = (numbers[keep], slots[keep] - shift, positions[keep], spans[keep])
        parts.append(_forward(loaded, windows, part, sub, layers, word_vector, layer_agg))
    return torch.cat(parts)  # the halves' words in the order of ``numbers``: slots grow with them


def encode_words(loaded, windows: WordWindows, layers, layer_agg: str, word_vector: str, batch_size: int, token_budget: int, bar=None) -> np.ndarray:
    """float32 ``(n_words, dim)``: every word's vector, in word order."""
    import torch

    lengths = windows.tokenized.lengths
    order = np.argsort(windows.window, kind="stable")  # words grouped by window
    sorted_windows = windows.window[order]
    out = None
    if bar is not None:
        bar.planned(int(lengths.sum()), int(len(windows.offsets) - 1))
    with torch.inference_mode(), plain_cpu_kernels(loaded):
        for index in plan_batches(lengths, batch_size, token_budget):
            lo = np.searchsorted(sorted_windows, index, side="left")
            hi = np.searchsorted(sorted_windows, index, side="right")
            slots = np.repeat(np.arange(len(index)), hi - lo)
            numbers = np.concatenate([order[a:b] for a, b in zip(lo, hi)])
            if len(numbers):  # else every word of these windows is read in another one
                words = (numbers, slots, windows.position[numbers], windows.span[numbers])
                vectors = _forward(loaded, windows, index, words, layers, word_vector, layer_agg)
                if out is None:
                    out = np.empty((windows.n_words, vectors.shape[1]), dtype=np.float32)
                out[numbers] = vectors.numpy()
            if bar is not None:
                bar.update(int(lengths[index].sum()))
    return out
