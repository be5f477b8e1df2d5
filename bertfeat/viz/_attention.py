"""Attention weights of one layer and head, drawn over the tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bertfeat._store import load_model
from bertfeat.viz._common import Plot, figure_and_ax, is_index, require, save_figure


@dataclass
class AttentionData:
    """The attention matrix drawn by :func:`attention_heatmap`.

    ``attention[i, j]`` is how much token ``i`` (query, a row) attends to token ``j``
    (key, a column); every row sums to 1.
    """

    attention: np.ndarray
    tokens: list
    layer: int
    head: int | str
    sequence_ids: list = field(default_factory=list)


def _load_eager(model):
    """The encoder with eager attention (SDPA returns no attention weights), from the model
    store: loaded once and kept under the store's lifetime (``bertfeat.free_models()``)."""
    require("torch", "torch")
    return load_model(model, device="cpu", dtype="float32", attention="eager")


def _check_index(value, size: int, name: str) -> int:
    if not is_index(value) or not -size <= value < size:
        raise ValueError(f"{name} must be an integer in [{-size}, {size - 1}]; got {value!r}")
    return int(value) % size


def attention_heatmap(model, text: str, text_pair: str | None = None, layer: int = -1, head: int | str = 0, *,
                      ax=None, cmap: str = "viridis", title: str | None = None, path=None, dpi: int = 150) -> Plot:
    """Attention weights of one layer and head, tokens on both axes.

    Parameters
    ----------
    model : str, path or None
        Model folder or Hub id (None: the embedded all-MiniLM-L6-v2), loaded with eager
        attention so that the weights are returned.
    text, text_pair : str
        A text, or a pair (both segments are shown, a dashed line between them).
    layer : int, default=-1
        Layer index, negative from the end.
    head : int or "mean", default=0
        Attention head, or "mean" for the average over heads.
    ax, cmap, title, path, dpi
        Axes to draw into; colour map; title; file to save to; its resolution.

    Returns
    -------
    Plot
        ``figure`` and ``data``, an :class:`AttentionData` with the matrix (rows: the
        attending token, each summing to 1) and the tokens, special tokens included.

    Examples
    --------
    >>> fig, att = attention_heatmap(None, "time flies like an arrow", layer=2, head=3)  # doctest: +SKIP
    >>> att.tokens[:3]                                                                # doctest: +SKIP
    ['[CLS]', 'time', 'flies']
    """
    import torch

    for name, value in (("text", text), ("text_pair", text_pair)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a string; got {type(value).__name__}")
    if text is None:
        raise TypeError("text must be a string; got None")
    require("matplotlib", "matplotlib")
    loaded = _load_eager(model)
    tokenizer = loaded.tokenizer
    encoded = tokenizer(text, text_pair, truncation=True, max_length=loaded.max_length, return_tensors="pt")
    if not loaded.info["token_types"]:  # DistilBERT-style encoders take no token types
        encoded.pop("token_type_ids", None)
    with torch.inference_mode():
        outputs = loaded.model(**encoded, output_attentions=True)
    attentions = outputs.attentions
    layer = _check_index(layer, len(attentions), "layer")
    weights = attentions[layer][0].float().numpy()  # (heads, tokens, tokens)
    if isinstance(head, str):
        if head != "mean":
            raise ValueError(f"head must be an integer or 'mean'; got {head!r}")
        matrix = weights.mean(axis=0)
    else:
        head = _check_index(head, weights.shape[0], "head")
        matrix = weights[head]
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0].tolist())
    try:
        sequence_ids = list(encoded.sequence_ids(0))
    except (ValueError, AttributeError):  # slow tokenizers
        sequence_ids = []

    n = len(tokens)
    side = float(np.clip(0.22 * n + 2.5, 4.5, 14))
    figure, ax = figure_and_ax(ax, (side + 1.0, side))
    image = ax.imshow(matrix, cmap=cmap, vmin=0, interpolation="nearest")
    figure.colorbar(image, ax=ax, shrink=0.8, label="attention weight")
    fontsize = 9 if n <= 40 else 7 if n <= 80 else 5
    ax.set_xticks(range(n), tokens, rotation=90, fontsize=fontsize)
    ax.set_yticks(range(n), tokens, fontsize=fontsize)
    ax.set_xlabel("attended-to token (key)")
    ax.set_ylabel("attending token (query)")
    if text_pair is not None and 1 in sequence_ids:
        boundary = sequence_ids.index(1) - 0.5
        ax.axhline(boundary, color="white", linestyle="--", linewidth=0.8)
        ax.axvline(boundary, color="white", linestyle="--", linewidth=0.8)
    head_text = f"mean of {weights.shape[0]} heads" if head == "mean" else f"head {head} of {weights.shape[0]}"
    default_title = f"Attention: layer {layer} of {len(attentions)} (from 0), {head_text}"
    ax.set_title(title if title is not None else default_title)
    save_figure(figure, path, dpi)
    return Plot(figure, AttentionData(matrix, tokens, layer, head, sequence_ids))


