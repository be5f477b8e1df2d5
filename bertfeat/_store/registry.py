"""Loaded models shared in a process, with an explicit lifetime.

Why a registry rather than one model per estimator: a grid search clones the vectorizer
for every candidate, a Dask worker runs one copy per thread, and an unpickled pipeline is
another object again; all of them read the same files and must not hold (or load) the
weights once each. Models here are for inference only and never modified; a model that is
trained (fine-tuning) is owned by its estimator and never enters the registry.

Lifetime
--------
* An entry is keyed by (folder, fingerprint, device, dtype, attention, fast mode).
* The registry holds the ``max_held()`` most recently used entries (2 by default; set
  ``BERTFEAT_MAX_MODELS``); older ones are dropped from it, least recently used first.
* A fitted estimator holds the model it uses. A model still held by an estimator is
  found again (weak reference) rather than loaded twice, and is freed with the last
  estimator that uses it.
* :func:`free_models` (public as ``bertfeat.free_models()``) drops every entry the
  registry holds and returns the freed GPU memory to the driver; estimators that still
  hold a model keep it until they are deleted or refitted.
"""

from __future__ import annotations

import collections
import dataclasses
import gc
import os
import sys
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from bertfeat._store.digest import fingerprint, weights_fingerprint
from bertfeat._store.load import load_module, load_tokenizer, model_info
from bertfeat._store.resolve import resolve_model_path

DEFAULT_MAX_HELD = 2
ATTENTIONS = (None, "eager")

_lock = threading.RLock()
_held: "collections.OrderedDict[tuple, LoadedModel]" = collections.OrderedDict()
_alive: "weakref.WeakValueDictionary[tuple, LoadedModel]" = weakref.WeakValueDictionary()
_stats = {"loads": 0, "fast_builds": 0}


@dataclass(eq=False)
class LoadedModel:
    """A tokenizer and encoder ready for inference, with what pooling needs to know."""

    path: str
    fingerprint: str
    tokenizer: Any
    model: Any
    device: Any
    dtype: Any
    config: Any
    info: dict = field(default_factory=dict)

    @property
    def hidden_size(self) -> int:
        return int(self.info["hidden_size"])

    @property
    def num_layers(self) -> int:
        return int(self.info["num_layers"])

    @property
    def has_pooler(self) -> bool:
        return bool(self.info["has_pooler"])

    @property
    def max_length(self) -> int:
        return int(self.info["max_length"])


def max_held() -> int:
    """How many models the registry keeps beyond those estimators hold (``BERTFEAT_MAX_MODELS``)."""
    text = os.environ.get("BERTFEAT_MAX_MODELS", "")
    try:
        return max(0, int(text)) if text else DEFAULT_MAX_HELD
    except ValueError:
        raise ValueError(f"BERTFEAT_MAX_MODELS={text!r} is not a whole number") from None


def _remember(key: tuple, loaded: LoadedModel) -> LoadedModel:
    _held[key] = loaded
    _held.move_to_end(key)
    _alive[key] = loaded
    while len(_held) > max_held():
        _held.popitem(last=False)
    return loaded


def _found(key: tuple) -> LoadedModel | None:
    loaded = _held.get(key) or _alive.get(key)
    return None if loaded is None else _remember(key, loaded)


def load_model(model=None, device: str = "auto", dtype: str = "auto", *, attention: str | None = None,
               fast_mode: str | None = None) -> LoadedModel:
    """Tokenizer + encoder for ``model`` on ``device`` in ``dtype``, loaded once and shared.

    Parameters
    ----------
    model : str, path or None
        Folder, Hub id, or None for the embedded all-MiniLM-L6-v2.
    device, dtype : str
        As the estimators take them (``"auto"``, ``"cpu"``, ``"cuda:1"``; ``"float16"``...).
    attention : {None, "eager"}
        ``"eager"`` attention returns attention weights (``output_attentions``), which
        the default SDPA kernels do not; for the attention heatmap.
    fast_mode : str or None
        A CPU fast mode of :mod:`bertfeat._fast`: the encoder replaced by its fast copy,
        built once from the exact model.
    """
    # _device and _fast import torch: kept inside so that importing the store stays light.
    from bertfeat._device import resolve_device, resolve_dtype

    if attention not in ATTENTIONS:
        raise ValueError(f"attention={attention!r} is not one of {ATTENTIONS}")
    folder = resolve_model_path(model)
    fp = fingerprint(folder)
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    key = (str(folder), fp, str(torch_device), str(torch_dtype), attention, fast_mode)
    with _lock:
        found = _found(key)
        if found is not None:
            return found
        if fast_mode is not None:
            from bertfeat._fast.prepare import prepare_fast

            exact = load_model(folder, device, dtype, attention=attention)
            fast = prepare_fast(exact.model, fast_mode)
            _stats["fast_builds"] += 1
            info = {**exact.info, "fast_mode": fast_mode}
            return _remember(key, dataclasses.replace(exact, model=fast, info=info))
        options = {"attn_implementation": "eager"} if attention == "eager" else {}
        encoder = load_module(folder, "encoder", dtype=torch_dtype, **options)
        tokenizer = load_tokenizer(folder)
        encoder.eval().to(torch_device)
        info = model_info(encoder.config, encoder, tokenizer)
        loaded = LoadedModel(str(folder), fp, tokenizer, encoder, torch_device, torch_dtype, encoder.config, info)
        _stats["loads"] += 1
        return _remember(key, loaded)


def from_module(module, tokenizer, path: str, device, dtype) -> LoadedModel:
    """A trained model in memory (fine-tuning's) seen as a :class:`LoadedModel`, so that
    it encodes through the same path; fingerprinted from its weights. Not registered:
    its estimator owns it."""
    encoder = module.base_model
    info = model_info(module.config, encoder, tokenizer)
    return LoadedModel(str(path), weights_fingerprint(module), tokenizer, encoder, device, dtype, module.config, info)


def free_models() -> int:
    """Drop every model the registry holds; the number dropped.

    Memory is returned once nothing else refers to a model: an estimator fitted with it
    keeps it until the estimator is deleted or refitted. CUDA's cached blocks are handed
    back to the driver.
    """
    with _lock:
        count = len(_held)
        _held.clear()
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    return count


def store_stats() -> dict:
    """Real loads and fast-copy builds in this process, and models held now."""
    with _lock:
        return {**_stats, "held": len(_held), "alive": len(_alive)}
