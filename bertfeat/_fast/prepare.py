"""``prepare_fast(model, mode)``: a faster CPU copy of a loaded encoder, called exactly like it."""

from __future__ import annotations

import torch
from torch import nn

from bertfeat._fast.bf16 import to_bf16
from bertfeat._fast.int8 import quantize_int8
from bertfeat._fast.modes import MODES, auto_mode, refuse_dropped_mode


def prepare_fast(model: nn.Module, mode: str = "auto", *, force: bool = False) -> nn.Module:
    """A faster CPU copy of a loaded Hugging Face encoder, called exactly like it.

    Parameters
    ----------
    model : torch.nn.Module
        A Hugging Face encoder (BertModel, DistilBertModel, ...) in eval mode on the CPU.
        It is not modified.
    mode : {"auto", "int8", "bf16"}
        See :mod:`bertfeat._fast`; "auto" is :func:`~bertfeat._fast.modes.auto_mode`.
    force : bool
        Run ``"bf16"`` even on CPUs without native bf16 (slow there).

    Returns
    -------
    torch.nn.Module
        Takes ``input_ids``, ``attention_mask``, ``token_type_ids``,
        ``output_hidden_states``, ``return_dict`` and returns float32
        ``last_hidden_state`` (and ``hidden_states``, ``pooler_output``).
    """
    refuse_dropped_mode(mode, "mode")
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not one of {MODES}")
    if mode == "auto":
        mode = auto_mode()
    device = next(iter(model.parameters())).device if any(True for _ in model.parameters()) else torch.device("cpu")
    if device.type != "cpu":
        raise ValueError(f"prepare_fast is for CPU inference; the model is on {device}")
    if mode == "int8":
        return quantize_int8(model)
    return to_bf16(model, force=force)
