"""Opt-in faster CPU inference for a loaded encoder (``BertVectorizer(fast_mode=...)``).

Every mode returns a *new* module (the model passed in is left as it is) that is called
exactly like a Hugging Face encoder and returns float32 ``last_hidden_state`` /
``hidden_states`` / ``pooler_output``, so pooling code does not change. The model store
builds each fast copy once per model and mode (:func:`bertfeat._store.load_model`).

=============  ===================================================  ==============
room           job                                                  imports torch
=============  ===================================================  ==============
``cpu``        what this CPU multiplies natively (VNNI, bf16)       no
``modes``      the modes, the dropped ones and why, early checks    no
``int8``       dynamic int8 quantization (full 8-bit on VNNI)       yes
``bf16``       bfloat16 with float32 outputs                        yes
``prepare``    ``prepare_fast(model, mode)``                        yes
=============  ===================================================  ==============

Measured with all-MiniLM-L6-v2 on a quiet 2-core AMD EPYC (Zen 4: AVX-512, VNNI, BF16),
torch 2.13, 2,000 emotion tweets in sorted batches of 32 (token budget 4096), side by side
with the fp32 model (``python benchmarks/fastmode.py``; BENCHMARKS.md, "Fast mode"):

===============  =========  =================  ===============
mode             x fp32     cosine mean / min  accuracy delta
===============  =========  =================  ===============
int8 (stock)     2.32x      0.927 / 0.82       -1.80 points
``"int8"``       2.23x      0.992 / 0.981      +0.25 points
``"bf16"``       1.75x      0.99995 / 0.9999   +0.10 points
===============  =========  =================  ===============

On an Intel Xeon with AMX (2 cores), ``"int8"`` 1.78x and ``"bf16"`` 2.04x: each mode is
the fastest on one measured CPU, so both stay. "int8 (stock)" is the documented
``quantize_dynamic(model, {nn.Linear})``, for comparison only (it fails the accuracy bar).

The ONNX Runtime modes ``"onnx"`` (1.02x) and ``"onnx-int8"`` (1.96x, below ``"int8"``'s
2.23x on the same CPU) were never the fastest on any CPU measured and are refused with
that reason (:data:`~bertfeat._fast.modes.DROPPED_MODES`).
"""

from bertfeat._fast.cpu import cpu_flags, has_native_bf16, has_vnni
from bertfeat._fast.modes import DROPPED_MODES, MODES, auto_mode, check_mode_here, describe, refuse_dropped_mode

__all__ = [
    "DROPPED_MODES", "MODES", "auto_mode", "check_mode_here", "cpu_flags", "describe", "has_native_bf16",
    "has_vnni", "refuse_dropped_mode",
]
