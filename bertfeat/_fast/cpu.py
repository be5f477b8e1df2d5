"""What this CPU multiplies natively (Linux ``/proc/cpuinfo``): decides which fast modes
are fast here, and how int8 activations are quantized."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)  # the CPU does not change while the process runs
def cpu_flags() -> frozenset:
    """Instruction-set flags of this CPU (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def has_vnni() -> bool:
    """int8 dot products without int16 saturation (AVX512-VNNI or AVX-VNNI)."""
    flags = cpu_flags()
    return "avx512_vnni" in flags or "avx_vnni" in flags


def has_native_bf16() -> bool:
    """bf16 matrix products in hardware (AVX512_BF16 or AMX-BF16)."""
    flags = cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags
