"""``"bf16"``: bfloat16 weights and activations, float32 outputs.

Fast only where the CPU multiplies bf16 natively (AVX512_BF16 or AMX); elsewhere it
measured several times *slower* than fp32, so it is refused there unless ``force=True``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from bertfeat._fast.modes import require_native_bf16


class Float32Outputs(nn.Module):
    """Wraps an encoder running in a low precision; every tensor it returns is float32."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.config = getattr(inner, "config", None)

    def forward(self, *args, **kwargs):
        out = self.inner(*args, **kwargs)
        for name, value in list(out.items()):
            if torch.is_tensor(value):
                out[name] = value.float()
            elif isinstance(value, tuple) and value and torch.is_tensor(value[0]):
                out[name] = tuple(v.float() for v in value)
        return out


def to_bf16(model: nn.Module, force: bool = False) -> nn.Module:
    if not force:
        require_native_bf16()
    return Float32Outputs(copy.deepcopy(model).to(torch.bfloat16).eval())
