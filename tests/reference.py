"""An independent reference: a direct transformers forward pass, one text at a time."""

from __future__ import annotations

import inspect

import numpy as np


def reference_vectors(folder, items, pooling="mean", layers=None, layer_agg="mean", max_length=512, pairs=False):
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    out = []
    for item in items:
        args = item if pairs else (item,)
        enc = tokenizer(*args, return_tensors="pt", truncation=True, max_length=max_length)
        enc = {k: v for k, v in enc.items() if k in inspect.signature(model.forward).parameters}
        with torch.no_grad():
            o = model(**enc, output_hidden_states=True)
        if pooling == "pooler":
            out.append(o.pooler_output[0].numpy())
            continue
        states = [o.last_hidden_state[0]] if layers is None else [o.hidden_states[i][0] for i in layers]
        if pooling == "cls":
            pooled = [h[0] for h in states]
        elif pooling == "mean":
            pooled = [h.mean(0) for h in states]
        else:
            pooled = [h.max(0).values for h in states]
        vec = torch.cat(pooled) if layer_agg == "concat" else torch.stack(pooled).mean(0)
        out.append(vec.numpy())
    return np.stack(out).astype(np.float32)


def reference_token_states(folder, items, max_length, layers=None, layer_agg="mean", pairs=False):
    """``pooling="tokens"`` by hand: each text alone through transformers, its first
    ``max_length`` token states (layers combined per position), zero rows appended up to
    ``max_length``, flattened position by position."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    out = []
    for item in items:
        args = item if pairs else (item,)
        enc = tokenizer(*args, return_tensors="pt", truncation=True, max_length=max_length)
        enc = {k: v for k, v in enc.items() if k in inspect.signature(model.forward).parameters}
        with torch.no_grad():
            o = model(**enc, output_hidden_states=True)
        states = [o.last_hidden_state[0]] if layers is None else [o.hidden_states[i][0] for i in layers]
        per_position = torch.cat(states, dim=1) if layer_agg == "concat" else torch.stack(states).mean(0)
        padded = np.zeros((max_length, per_position.shape[1]), dtype=np.float32)
        padded[: per_position.shape[0]] = per_position.numpy()
        out.append(padded.reshape(-1))
    return np.stack(out)
