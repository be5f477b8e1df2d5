"""Pooling strategies and layer selection, each a small function.

Layer indices address ``hidden_states`` as transformers returns them: 0 is the
embedding output, ``num_layers`` (or -1) the last transformer layer.

``"tokens"`` is not a pooling of the tokens but their fixed-length concatenation: the
states of the first ``max_length`` positions (special tokens included), zero where a
text is shorter, flattened position-major: position 0's vector (its layers side by side
under ``layer_agg="concat"``), then position 1's, and so on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where tensors are made, so importing bertfeat stays light
    import torch

POOLINGS = ("cls", "mean", "max", "pooler")  # one vector per text, whatever its length
VECTORIZER_POOLINGS = POOLINGS + ("tokens",)  # BertVectorizer also offers the fixed-length token states
LAYER_AGGS = ("mean", "concat")


def pool_cls(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return hidden[:, 0]


def pool_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over real tokens (special tokens included, padding excluded)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def pool_max(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return hidden.masked_fill(~mask.bool().unsqueeze(-1), float("-inf")).max(1).values


TOKEN_POOLERS = {"cls": pool_cls, "mean": pool_mean, "max": pool_max}


def token_states(hidden: torch.Tensor, mask: torch.Tensor, positions: int) -> torch.Tensor:
    """``(batch, positions, hidden)``: the first ``positions`` token states, padding zeroed.

    A batch is padded only to its own longest row, so the missing positions are added
    here; padded positions inside the batch are zeroed too, so a row does not depend
    on its batch.
    """
    import torch

    kept = hidden[:, :positions] * mask[:, :positions].unsqueeze(-1).to(hidden.dtype)
    missing = positions - kept.shape[1]
    if missing > 0:
        kept = torch.cat([kept, kept.new_zeros((kept.shape[0], missing, kept.shape[2]))], dim=1)
    return kept


def combine_layers(pooled: list[torch.Tensor], layer_agg: str) -> torch.Tensor:
    if len(pooled) == 1:
        return pooled[0]
    import torch

    if layer_agg == "concat":
        return torch.cat(pooled, dim=-1)
    return torch.stack(pooled, 0).mean(0)


def pool(
    outputs, mask: torch.Tensor, pooling: str, layers: tuple[int, ...] | None, layer_agg: str, positions: int | None = None
) -> torch.Tensor:
    """float32 vectors, one per row, from a model output.

    ``layers=None`` means the last layer (``last_hidden_state``, no hidden states kept).
    ``positions``: the token positions kept by ``pooling="tokens"`` (its ``max_length``).
    """
    if pooling == "pooler":
        return outputs.pooler_output.float()
    if layers is None:
        states = [outputs.last_hidden_state]
    else:
        states = [outputs.hidden_states[i] for i in layers]
    if pooling == "tokens":
        # combine layers per position (concat: position-major), then flatten the positions
        combined = combine_layers([token_states(h.float(), mask, positions) for h in states], layer_agg)
        return combined.flatten(1)
    pooler = TOKEN_POOLERS[pooling]
    # Pool in fp32 so half-precision runs do not lose the sum.
    return combine_layers([pooler(h.float(), mask) for h in states], layer_agg)


def output_dim(hidden_size: int, layers: tuple[int, ...] | None, layer_agg: str, positions: int | None = None) -> int:
    """Vector size; ``positions`` (``pooling="tokens"`` only) multiplies it."""
    per_token = hidden_size * len(layers) if layers is not None and layer_agg == "concat" else hidden_size
    return per_token * (positions or 1)


def normalize_layers(layers, num_layers: int) -> tuple[int, ...] | None:
    """``"last"`` -> None; an int or list of ints -> a tuple of valid indices.

    Raises ValueError naming the bad index and the allowed range.
    """
    if isinstance(layers, str):
        if layers != "last":
            raise ValueError(f"layers={layers!r}: expected 'last', an int or a list of ints")
        return None
    if isinstance(layers, (int,)) and not isinstance(layers, bool):
        layers = [layers]
    try:
        items = list(layers)
    except TypeError:
        raise TypeError(f"layers must be 'last', an int or a list of ints; got {type(layers).__name__}") from None
    if not items:
        raise ValueError("layers is an empty list; give at least one layer index or 'last'")
    out = []
    for i in items:
        if isinstance(i, bool) or not isinstance(i, (int,)) and not hasattr(i, "__index__"):
            raise TypeError(f"layers holds {i!r}; layer indices must be integers")
        i = int(i)
        if not -(num_layers + 1) <= i <= num_layers:
            raise ValueError(
                f"layers holds {i}, but the model has {num_layers} layers: valid indices are "
                f"0 (embeddings) to {num_layers} (last), or -{num_layers + 1} to -1"
            )
        out.append(i)
    return tuple(out)
