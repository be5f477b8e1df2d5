"""Model files inside a pickle: read a folder's files, restore them elsewhere."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from bertfeat._models import CONFIG_FILE, TOKENIZER_FILES, _weight_files, fingerprint


def models_home() -> Path:
    """Where restored model folders live: ``$BERTFEAT_HOME/models`` or ``~/.cache/bertfeat/models``."""
    base = os.environ.get("BERTFEAT_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "bertfeat")
    return Path(base) / "models"


def read_model_files(folder: Path) -> dict[str, bytes]:
    """The files that make the model: config, weights, tokenizer (by name)."""
    paths = [folder / CONFIG_FILE] + _weight_files(folder)
    paths += [folder / name for name in TOKENIZER_FILES if (folder / name).is_file()]
    return {p.name: p.read_bytes() for p in paths}


def restore_model_files(files: dict[str, bytes], expected_fingerprint: str) -> Path:
    """Write ``files`` once to ``models_home()/<fingerprint>`` (atomically) and check them."""
    target = models_home() / expected_fingerprint[:32]
    if not target.is_dir() or fingerprint(target) != expected_fingerprint:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".restore-", dir=target.parent))
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        if fingerprint(tmp) != expected_fingerprint:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ValueError("the model files stored in this pickle do not match its fingerprint (damaged pickle)")
        shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:  # another process restored it first
            shutil.rmtree(tmp, ignore_errors=True)
    return target
