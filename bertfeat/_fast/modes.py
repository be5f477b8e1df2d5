"""Which fast modes exist, which were dropped and why, and the checks that need no model.

Torch-free, so that the estimators can import it at module top.
"""

from __future__ import annotations

from bertfeat._fast.cpu import has_native_bf16, has_vnni

MODES = ("auto", "int8", "bf16")
# Modes that were offered once and are refused now, with why and what to use instead.
# The rule: a mode stays only while some CPU measures it faster than every other mode.
DROPPED_MODES = {
    "onnx": (
        "ONNX Runtime fp32 measured no faster than torch fp32 (1.02x on an AMD Zen 4, BENCHMARKS.md "
        "'Fast mode'); use fast_mode='int8' (2.2x there), or 'bf16' on CPUs with native bf16"
    ),
    "onnx-int8": (
        "ONNX Runtime int8 measured slower than fast_mode='int8' (1.96x against 2.23x fp32 on an "
        "AMD Zen 4, BENCHMARKS.md 'Fast mode') and needed two more packages; use fast_mode='int8'"
    ),
}


def auto_mode() -> str:
    """``"int8"``: no extra dependency, and faster than fp32 on every CPU measured.

    It was the fastest mode on the AMD Zen 4 machine (2.2x fp32) and within the 1-point
    accuracy bar on emotion (BENCHMARKS.md); on an Intel Xeon with AMX, ``"bf16"`` measured
    faster (2.0x vs 1.8x) and is the high-fidelity choice on CPUs with native bf16.
    """
    return "int8"


def refuse_dropped_mode(mode, name: str = "fast_mode") -> None:
    """A clear error for a mode that is no longer offered (before any generic check)."""
    if isinstance(mode, str) and mode in DROPPED_MODES:
        raise ValueError(f"{name}={mode!r} was removed: {DROPPED_MODES[mode]}")


def require_native_bf16(name: str = "mode", hint: str = ", or force=True to run it anyway") -> None:
    if not has_native_bf16():
        raise ValueError(
            f"{name}='bf16' is only fast on CPUs with native bf16 (AVX512_BF16 or AMX); this CPU has "
            f"neither and bf16 measured about 7x slower than fp32 on such CPUs. Use {name}='int8'{hint}."
        )


def check_mode_here(mode: str) -> None:
    """Errors that can be told before any model is loaded: a dropped mode, bf16 on a CPU
    without native bf16."""
    refuse_dropped_mode(mode)
    if mode == "bf16":
        require_native_bf16("fast_mode", hint="")


def describe(mode: str) -> str:
    """What decides this mode's vectors on this machine (part of the cache key).

    int8 activations use 8 bits on VNNI CPUs and 7 elsewhere, so the two give slightly
    different vectors and must not share cached ones.
    """
    if mode == "int8":
        return "int8-act8" if has_vnni() else "int8-act7"
    return mode
