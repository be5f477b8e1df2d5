"""Opt-in faster CPU inference for a loaded encoder: ``prepare_fast(model, mode)``.

Every mode returns a *new* module (the model passed in is left as it is) that is
called exactly like a Hugging Face encoder,
``fast(input_ids=..., attention_mask=..., token_type_ids=..., output_hidden_states=...,
return_dict=True)``, and returns float32 ``last_hidden_state`` / ``hidden_states`` /
``pooler_output``, so pooling code does not change.

Measured with all-MiniLM-L6-v2 on a quiet 2-core AMD EPYC (Zen 4: AVX-512, VNNI,
BF16), torch 2.13, onnxruntime 1.32, 2,000 emotion tweets in sorted batches of 32
(token budget 4096), side by side with the fp32 model. Cosine: mean-pooled vectors
against each text run alone in fp32. Accuracy: LogisticRegression(max_iter=1000) on
mean-pooled vectors, emotion train 16,000 -> validation 2,000 (fp32: 70.30 %).
Command and tables: ``python benchmarks/fastmode.py`` and BENCHMARKS.md ("Fast mode").

===============  =========  =================  ===============
mode             x fp32     cosine mean / min  accuracy delta
===============  =========  =================  ===============
int8 (stock)     2.32x      0.927 / 0.82       -1.80 points
``"int8"``       2.23x      0.992 / 0.981      +0.25 points
``"bf16"``       1.75x      0.99995 / 0.9999   +0.10 points
``"onnx"``       1.02x      1.0000 / 1.0000    +0.10 points
``"onnx-int8"``  1.96x      0.991 / 0.980      -0.30 points
===============  =========  =================  ===============

"int8 (stock)" is ``quantize_dynamic(model, {nn.Linear})`` as documented, for
comparison; it is not offered here.

Modes
-----
``"int8"``
    Dynamic int8 quantization of every ``nn.Linear`` (weights int8 per output
    channel, activations quantized per batch at run time), via
    ``torch.ao.quantization.quantize_dynamic``. On CPUs with VNNI the activations use
    the full 8-bit range; the stock ``quantize_dynamic`` always uses 7 bits
    (``reduce_range=True``, needed only to avoid int16 saturation on CPUs without
    VNNI), which costs fidelity (mean cosine 0.93 per-tensor / 0.97 per-channel
    against 0.99 here). Without VNNI the safe 7-bit path is kept.
``"bf16"``
    bfloat16 weights and activations, float32 outputs. Fast only where the CPU
    multiplies bf16 natively (AVX512_BF16 or AMX); elsewhere it is several times
    *slower* than fp32, so ``prepare_fast`` refuses it there unless ``force=True``.
``"onnx"`` / ``"onnx-int8"``
    The encoder exported with ``torch.onnx.export`` (offline, no download) and run by
    ONNX Runtime after its transformer graph fusions; ``"onnx-int8"`` adds ONNX
    Runtime's dynamic int8 quantization (per channel). Needs ``onnxruntime`` and
    ``onnx``.
``"auto"``
    The best measured mode for this CPU (see :func:`auto_mode`).
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import os
import shutil
import tempfile
import threading
import warnings
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

MODES = ("auto", "int8", "bf16", "onnx", "onnx-int8")
ONNX_MODES = ("onnx", "onnx-int8")


# --------------------------------------------------------------------------- CPU features


@lru_cache(maxsize=1)
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


def auto_mode() -> str:
    """``"int8"``: no extra dependency, and faster than fp32 on every CPU measured.

    It was the fastest mode on the AMD Zen 4 machine (2.2x fp32) and within the 1-point
    accuracy bar on emotion (BENCHMARKS.md); on an Intel Xeon with AMX, ``"bf16"`` measured
    faster (2.0x vs 1.8x) and is the high-fidelity choice on CPUs with native bf16.
    """
    return "int8"


# --------------------------------------------------------------------------- int8


def _full_range_linear_class():
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    class FullRangeDynamicLinear(DynamicLinear):
        """Dynamic int8 linear with 8-bit activations (``reduce_range=False``); VNNI CPUs only."""

        def forward(self, x):
            y = torch.ops.quantized.linear_dynamic(x, self._packed_params._packed_params, reduce_range=False)
            return y.to(x.dtype)

        def _get_name(self):
            return "FullRangeDynamicQuantizedLinear"

    return FullRangeDynamicLinear


def quantize_int8(model: nn.Module, full_range: bool | None = None, per_channel: bool = True) -> nn.Module:
    """Dynamic int8 copy of ``model`` (every ``nn.Linear``; embeddings and LayerNorm stay fp32)."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization deprecation notices
        from torch.ao.quantization import (
            default_dynamic_qconfig,
            per_channel_dynamic_qconfig,
            quantize_dynamic,
        )

        qconfig = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
        engine = torch.backends.quantized.engine
        if engine not in ("x86", "fbgemm", "onednn") and "x86" in torch.backends.quantized.supported_engines:
            torch.backends.quantized.engine = "x86"
        quantized = quantize_dynamic(copy.deepcopy(model).float().eval(), {nn.Linear: qconfig}, dtype=torch.qint8)
    if full_range is None:
        full_range = has_vnni() and torch.backends.quantized.engine in ("x86", "fbgemm")
    if full_range:
        cls = _full_range_linear_class()
        for module in quantized.modules():
            if type(module) is DynamicLinear:
                module.__class__ = cls
    return quantized


# --------------------------------------------------------------------------- float32 outputs


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


def require_native_bf16(name: str = "mode", hint: str = ", or force=True to run it anyway") -> None:
    if not has_native_bf16():
        raise ValueError(
            f"{name}='bf16' is only fast on CPUs with native bf16 (AVX512_BF16 or AMX); this CPU has "
            f"neither and bf16 measured about 7x slower than fp32 on such CPUs. Use {name}='int8'{hint}."
        )


def to_bf16(model: nn.Module, force: bool = False) -> nn.Module:
    if not force:
        require_native_bf16()
    return Float32Outputs(copy.deepcopy(model).to(torch.bfloat16).eval())


# --------------------------------------------------------------------------- ONNX Runtime


class _ExportWrapper(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model
        # DistilBERT-style encoders have no token types; the graph then ignores that input.
        self.takes_token_types = "token_type_ids" in inspect.signature(model.forward).parameters

    def forward(self, input_ids, attention_mask, token_type_ids):
        extra = {"token_type_ids": token_type_ids} if self.takes_token_types else {}
        out = self.model(
            input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True, return_dict=True, **extra
        )
        pooler = getattr(out, "pooler_output", None)  # DistilBERT-style encoders have none
        if pooler is None:
            pooler = out.last_hidden_state[:, 0]
        return (out.last_hidden_state, pooler) + tuple(out.hidden_states)


def export_onnx(model: nn.Module, path: str, optimize: bool = True) -> str:
    """Export a BERT-style encoder to ONNX (dynamic batch and length), then fuse with
    ONNX Runtime's transformer optimizer. Returns the path of the model to load."""
    config = model.config
    n_states = config.num_hidden_layers + 1
    names = ["input_ids", "attention_mask", "token_type_ids"]
    outputs = ["last_hidden_state", "pooler_output"] + [f"hidden_state_{i}" for i in range(n_states)]
    example = (
        torch.tensor([[101, 7592, 2088, 102, 0], [101, 2023, 2003, 1037, 102]]) % config.vocab_size,
        torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]),
        torch.zeros(2, 5, dtype=torch.long),
    )
    axes = {n: {0: "batch", 1: "sequence"} for n in names + outputs if n != "pooler_output"}
    axes["pooler_output"] = {0: "batch"}
    wrapper = _ExportWrapper(copy.deepcopy(model).float().eval()).eval()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper, example, path, input_names=names, output_names=outputs, dynamic_axes=axes,
            opset_version=17, dynamo=False,
        )
    if not optimize:
        return path
    try:
        from onnxruntime.transformers import optimizer

        fused = optimizer.optimize_model(
            path, model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size, opt_level=1
        )
        fused_path = path.replace(".onnx", "-fused.onnx")
        fused.save_model_to_file(fused_path)
        return fused_path
    except Exception as exc:  # the plain graph still runs; ORT applies its own basic fusions
        warnings.warn(f"ONNX Runtime transformer fusions failed ({exc}); using the plain export", RuntimeWarning)
        return path


def quantize_onnx(path: str) -> str:
    """ONNX Runtime dynamic int8 quantization (per channel, int8 weights)."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = path.replace(".onnx", "-int8.onnx")
    quantize_dynamic(
        path, out, weight_type=QuantType.QInt8, per_channel=True,
        extra_options={"DefaultTensorType": TensorProto.FLOAT},
    )
    return out


class OnnxEncoder(nn.Module):
    """An ONNX Runtime session called like a Hugging Face encoder (CPU)."""

    def __init__(self, path: str, config, threads: int | None = None):
        super().__init__()
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or torch.get_num_threads()
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.config = config
        self.path = path
        self._inputs = {i.name for i in self.session.get_inputs()}
        self._n_states = config.num_hidden_layers + 1

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, output_hidden_states=False,
                return_dict=True, **unused):
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        feed = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        feed = {k: v.detach().cpu().numpy().astype("int64", copy=False) for k, v in feed.items() if k in self._inputs}
        wanted = ["last_hidden_state", "pooler_output"]
        if output_hidden_states:
            wanted += [f"hidden_state_{i}" for i in range(self._n_states)]
        values = [torch.from_numpy(v) for v in self.session.run(wanted, feed)]
        states = tuple(values[2:]) if output_hidden_states else None
        return BaseModelOutputWithPooling(last_hidden_state=values[0], pooler_output=values[1], hidden_states=states)


def build_onnx(model: nn.Module, folder: str, quantize: bool = False) -> str:
    """Export (and optionally quantize) ``model`` into ``folder``; the path of the model to run."""
    path = export_onnx(model, os.path.join(folder, "encoder.onnx"))
    return quantize_onnx(path) if quantize else path


def to_onnx(model: nn.Module, quantize: bool = False, folder: str | None = None) -> nn.Module:
    folder = folder or tempfile.mkdtemp(prefix="bertfeat-onnx-")
    return OnnxEncoder(build_onnx(model, folder, quantize), model.config)


def missing_onnx_packages() -> list[str]:
    """Names of the packages ``"onnx"`` modes need that are not installed."""
    import importlib.util

    return [name for name in ("onnxruntime", "onnx") if importlib.util.find_spec(name) is None]


def onnx_home() -> Path:
    """Where exported ONNX encoders are kept: ``$BERTFEAT_HOME/onnx`` (or ``~/.cache/bertfeat/onnx``)."""
    from bertfeat._models import models_home

    return models_home().parent / "onnx"


def stored_onnx(model: nn.Module, fingerprint: str, mode: str) -> str:
    """The exported encoder for this model and mode, built once per machine and reused.

    The folder name carries the torch and ONNX Runtime versions (both shape the graph);
    it is built under a temporary name and renamed, so a killed export leaves nothing
    half-written behind.
    """
    import onnxruntime

    name = f"{fingerprint[:32]}-{mode}-torch{torch.__version__.split('+')[0]}-ort{onnxruntime.__version__}"
    target = onnx_home() / name
    found = sorted(target.glob("*.onnx")) if target.is_dir() else []
    if not found:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
        try:
            built = Path(build_onnx(model, str(tmp), quantize=(mode == "onnx-int8")))
            for other in tmp.glob("*.onnx"):  # keep only the model that runs
                if other != built:
                    other.unlink()
            shutil.rmtree(target, ignore_errors=True)
            try:
                os.replace(tmp, target)
            except OSError:  # another process renamed its export first: use theirs
                if not any(target.glob("*.onnx")):
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        found = sorted(target.glob("*.onnx"))
    return str(found[0])


# --------------------------------------------------------------------------- entry points


def prepare_fast(model: nn.Module, mode: str = "auto", *, force: bool = False) -> nn.Module:
    """A faster CPU copy of a loaded Hugging Face encoder, called exactly like it.

    Parameters
    ----------
    model : torch.nn.Module
        A Hugging Face encoder (BertModel, DistilBertModel, ...) in eval mode on the CPU.
        It is not modified.
    mode : {"auto", "int8", "bf16", "onnx", "onnx-int8"}
        See the module docstring; "auto" is :func:`auto_mode`.
    force : bool
        Run ``"bf16"`` even on CPUs without native bf16 (slow there).

    Returns
    -------
    torch.nn.Module
        Takes ``input_ids``, ``attention_mask``, ``token_type_ids``,
        ``output_hidden_states``, ``return_dict`` and returns float32
        ``last_hidden_state`` (and ``hidden_states``, ``pooler_output``).
    """
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not one of {MODES}")
    if mode == "auto":
        mode = auto_mode()
    device = next(iter(model.parameters())).device if any(True for _ in model.parameters()) else torch.device("cpu")
    if device.type != "cpu":
        raise ValueError(f"prepare_fast is for CPU inference; the model is on {device}")
    if mode == "int8":
        return quantize_int8(model)
    if mode == "bf16":
        return to_bf16(model, force=force)
    return to_onnx(model, quantize=(mode == "onnx-int8"))


def describe(mode: str) -> str:
    """What decides this mode's vectors on this machine (part of the cache key).

    int8 activations use 8 bits on VNNI CPUs and 7 elsewhere, so the two give slightly
    different vectors and must not share cached ones.
    """
    if mode == "int8":
        return "int8-act8" if has_vnni() else "int8-act7"
    return mode


_lock = threading.Lock()
_registry: dict = {}


def check_mode_here(mode: str) -> None:
    """Errors that can be told before any model is loaded: missing packages, bf16 on a CPU
    without native bf16."""
    if mode in ONNX_MODES:
        missing = missing_onnx_packages()
        if missing:
            raise ImportError(
                f"fast_mode={mode!r} needs {' and '.join(missing)}: pip install 'bertfeat[fast]' "
                "(or use fast_mode='int8', which needs nothing more)"
            )
    if mode == "bf16":
        require_native_bf16("fast_mode", hint="")


def fast_loaded(loaded, mode: str):
    """``loaded`` (a ``LoadedModel``) with its encoder replaced by ``prepare_fast``'s.

    Built once per model and mode in a process, like the model itself; the ONNX modes
    also keep their export on disk (:func:`stored_onnx`), so a new process skips it.
    """
    key = (loaded.path, loaded.fingerprint, str(loaded.device), str(loaded.dtype), mode)
    with _lock:
        found = _registry.get(key)
        if found is None:
            if mode in ONNX_MODES:
                fast = OnnxEncoder(stored_onnx(loaded.model, loaded.fingerprint, mode), loaded.model.config)
            else:
                fast = prepare_fast(loaded.model, mode)
            found = _registry[key] = dataclasses.replace(loaded, model=fast, info={**loaded.info, "fast_mode": mode})
        return found


def clear_registry() -> None:
    """Forget every fast encoder built in this process."""
    with _lock:
        _registry.clear()
