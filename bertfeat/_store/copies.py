"""Model files carried inside a pickle (``BertVectorizer(store_weights=True)``): read them
as bytes, and write them back once per machine under ``models_home()``."""

from __future__ import annotations

import os
from pathlib import Path

from bertfeat._atomic import atomic_folder
from bertfeat._store.digest import fingerprint_or_none
from bertfeat._store.files import model_files


def models_home() -> Path:
    """Where restored model folders live: ``$BERTFEAT_HOME/models`` or ``~/.cache/bertfeat/models``."""
    base = os.environ.get("BERTFEAT_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "bertfeat")
    return Path(base) / "models"


def read_model_files(folder: Path) -> dict[str, bytes]:
    """The files that make the model, by name, as bytes."""
    return {p.name: p.read_bytes() for p in model_files(folder)}


def restore_model_files(files: dict[str, bytes], expected_fingerprint: str) -> Path:
    """Write ``files`` once to ``models_home()/<fingerprint>`` (atomically) and check them."""
    target = models_home() / expected_fingerprint[:32]
    if not target.is_dir() or fingerprint_or_none(target) != expected_fingerprint:
        try:
            with atomic_folder(target) as tmp:
                for name, data in files.items():
                    (tmp / name).write_bytes(data)
                found = fingerprint_or_none(tmp)
                if found != expected_fingerprint:
                    raise ValueError(
                        f"the model files stored in this pickle ({', '.join(sorted(files))}) do not match its "
                        f"fingerprint {expected_fingerprint[:16]}... (found {str(found)[:16]}...): the pickle is "
                        f"damaged; nothing was written to {str(target)!r}"
                    )
        except OSError:  # another process restored it first (then it is there, whole), else a real error
            if fingerprint_or_none(target) != expected_fingerprint:
                raise
    return target
