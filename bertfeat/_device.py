"""Device and dtype choice, shared by every estimator that runs torch.

torch is imported inside the functions: estimators declare their parameter choices
(``DTYPES``) at import time, and ``import bertfeat`` must not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "float16", "bfloat16")


def resolve_device(device: str = "auto") -> torch.device:
    """Turn the ``device`` parameter into a ``torch.device``.

    ``"auto"`` picks CUDA, then MPS, then the CPU. ``"cuda:1"`` style names work.
    """
    import torch

    if not isinstance(device, str):
        raise TypeError(f"device must be a string, got {type(device).__name__}")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = device.split(":", 1)[0]
    if kind not in DEVICES[1:]:
        raise ValueError(f"device={device!r} is not one of {DEVICES} (optionally 'cuda:N')")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available here")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device={device!r} was asked for but MPS is not available here")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``"auto"``: bf16 on GPUs that support it, else fp16 on GPU; fp32 on CPU.

    fp32 on CPU because bf16 autocast measured 7x slower on AVX2-only CPUs.
    """
    import torch

    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not one of {DTYPES}")
    if dtype != "auto":
        return getattr(torch, dtype)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32


def is_oom(error: BaseException) -> bool:
    """True for a CUDA/MPS out-of-memory error (the batch should shrink)."""
    import torch

    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()
