"""The one list of files a model is made of, and the checks and copies built on it.

A model folder, for bertfeat, is ``config.json`` + weights (safetensors or PyTorch
``.bin``, single or sharded) + tokenizer files. Everything that lists, checks, hashes,
downloads or copies model files uses this module, so the list lives here only.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

CONFIG_FILE = "config.json"
SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")
BIN_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")
WEIGHT_FILES = SAFETENSORS_FILES + BIN_FILES
SAFETENSORS_SHARDS = "model-*-of-*.safetensors"
BIN_SHARDS = "pytorch_model-*-of-*.bin"
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

# What a Hub download may fetch (``snapshot_download(allow_patterns=...)``): the files
# above and nothing else (no TensorFlow, Flax, ONNX, OpenVINO or Rust copies of the
# weights). safetensors first; the PyTorch pickles only for repositories without them.
HUB_PATTERNS_SAFETENSORS = [CONFIG_FILE, *TOKENIZER_FILES, *SAFETENSORS_FILES, SAFETENSORS_SHARDS]
HUB_PATTERNS_BIN = [CONFIG_FILE, *TOKENIZER_FILES, *BIN_FILES, BIN_SHARDS]


def weight_files(folder: Path) -> list[Path]:
    """The weight files present in ``folder`` (single files, indexes, shards)."""
    found = [folder / name for name in WEIGHT_FILES if (folder / name).is_file()]
    return found + sorted(folder.glob(SAFETENSORS_SHARDS)) + sorted(folder.glob(BIN_SHARDS))


def model_files(folder: Path) -> list[Path]:
    """Every file that makes the model: config, weights, tokenizer (in a fixed order)."""
    files = [folder / CONFIG_FILE] + weight_files(folder)
    return files + [folder / name for name in TOKENIZER_FILES if (folder / name).is_file()]


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
    if not weight_files(folder):
        missing.append("weights (model.safetensors or pytorch_model.bin)")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        missing.append("tokenizer files (tokenizer.json or vocab.txt ...)")
    if missing:
        raise FileNotFoundError(f"model folder {str(folder)!r} is missing: {', '.join(missing)}")


def weight_file_damage(folder: Path) -> str | None:
    """Which weight file is damaged and how (named for the error), or None if none looks so."""
    for path in weight_files(folder):
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


def stored_shapes(folder: Path) -> dict[str, tuple]:
    """Shape of every tensor in the folder's safetensors files, read from their headers
    (no tensor is loaded); empty for PyTorch ``.bin`` weights."""
    shapes = {}
    for path in weight_files(folder):
        if path.suffix != ".safetensors":
            continue
        with open(path, "rb") as handle:
            (n,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(n))
        shapes.update({k: tuple(v["shape"]) for k, v in header.items() if k != "__metadata__"})
    return shapes
