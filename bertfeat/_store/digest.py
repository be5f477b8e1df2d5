"""Fingerprints: sha256 over a model's files, or over a module's weights in memory.

The fingerprint names a model in the vector cache and in pickles; a changed file changes
it. Hashing a large model takes seconds, so results are memoised:

* file fingerprints by (folder, file names, sizes, mtimes), at most ``MEMO_SIZE``
  entries, least recently used dropped first (a changed file has a new key, so a stale
  entry is never returned);
* in-memory fingerprints per module object (weak keys: gone with the module), re-hashed
  when any parameter was modified in place since.
"""

from __future__ import annotations

import collections
import hashlib
import threading
import weakref
from pathlib import Path

from bertfeat._store.files import model_files

MEMO_SIZE = 256
_lock = threading.Lock()
_file_memo: "collections.OrderedDict[tuple, str]" = collections.OrderedDict()
_module_memo: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


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
    """sha256 over the config, weight and tokenizer files (names and bytes)."""
    folder = Path(folder)
    files = model_files(folder)
    stat_key = (str(folder),) + tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    with _lock:
        if stat_key in _file_memo:
            _file_memo.move_to_end(stat_key)
            return _file_memo[stat_key]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + b"\0")
        _hash_file(f, digest)
    result = digest.hexdigest()
    with _lock:
        _file_memo[stat_key] = result
        while len(_file_memo) > MEMO_SIZE:
            _file_memo.popitem(last=False)
    return result


def fingerprint_or_none(folder: Path) -> str | None:
    """The fingerprint, or None when files are missing (a half-deleted folder)."""
    try:
        return fingerprint(folder)
    except OSError:
        return None


def weights_fingerprint(module) -> str:
    """sha256 over a module's parameter and buffer names and bytes (a model trained in
    memory, with no files yet). Memoised per module until a parameter changes in place."""
    import torch  # heavy: only a module already in memory gets here, so torch is loaded

    state = module.state_dict()
    version = tuple(t._version for t in state.values())
    with _lock:
        found = _module_memo.get(module)
        if found is not None and found[0] == version:
            return found[1]
    digest = hashlib.sha256()
    for name, tensor in state.items():
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    result = digest.hexdigest()
    with _lock:
        _module_memo[module] = (version, result)
    return result


def clear_memo() -> None:
    """Forget every memoised fingerprint (the next call hashes again)."""
    with _lock:
        _file_memo.clear()
        _module_memo.clear()
