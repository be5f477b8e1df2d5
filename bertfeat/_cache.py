"""The on-disk vector store: no text is encoded twice by the same model setup.

Layout: ``cache_dir/<setup>/`` per model setup (model fingerprint + every option that
changes a vector), holding ``setup.json`` (what the setup is, for people) and shards.
A shard is one file written by one ``transform`` chunk::

    b"BFSHARD1" | n (u64) | dim (u64) | blake2b-256 of the payload | keys (n x 16 bytes) | vectors (n x dim float32)

Why this shape: writers never touch a file that exists, so concurrent processes
need no lock to add vectors (each writes its own shard to a temporary name, fsyncs,
then renames it into place: readers see whole shards or nothing). Every read
re-checks the digest, so a damaged shard is detected, quarantined and recomputed,
never returned. A lock (filelock) guards only ``clear`` and ``compact``.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
import uuid
import warnings
from pathlib import Path

import numpy as np

MAGIC = b"BFSHARD1"
HEADER = struct.Struct("<8sQQ32s")
KEY_BYTES = 16
SHARD_SUFFIX = ".shard"
STALE_TMP_SECONDS = 3600


def text_key(item) -> bytes:
    """16-byte key of a text or an ``(a, b)`` pair (unambiguous: pairs are length-prefixed)."""
    h = hashlib.blake2b(digest_size=KEY_BYTES)
    if isinstance(item, tuple):
        a = item[0].encode("utf-8", "surrogatepass")
        b = item[1].encode("utf-8", "surrogatepass")
        h.update(b"p" + struct.pack("<Q", len(a)) + a + b)
    else:
        h.update(b"t" + item.encode("utf-8", "surrogatepass"))
    return h.digest()


def setup_key(fingerprint: str, settings: dict) -> str:
    payload = json.dumps({"model": fingerprint, **settings}, sort_keys=True)
    return hashlib.blake2b(payload.encode(), digest_size=12).hexdigest()


class CorruptShard(Exception):
    pass


def _read_shard(path: Path) -> tuple[list[bytes], np.ndarray]:
    """(keys as 16-byte strings, vectors float32) of a shard, after checking its digest."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:  # a folder under a shard's name, an unreadable file, an I/O error
        raise CorruptShard(f"{path.name}: cannot be read ({type(exc).__name__}: {exc})") from exc
    if len(data) < HEADER.size:
        raise CorruptShard(f"{path.name}: truncated header ({len(data)} bytes)")
    magic, n, dim, digest = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CorruptShard(f"{path.name}: not a bertfeat shard")
    expected = HEADER.size + n * KEY_BYTES + n * dim * 4
    if len(data) != expected:
        raise CorruptShard(f"{path.name}: {len(data)} bytes, expected {expected} (truncated or padded)")
    payload = memoryview(data)[HEADER.size :]
    if hashlib.blake2b(payload, digest_size=32).digest() != digest:
        raise CorruptShard(f"{path.name}: checksum mismatch (bytes changed on disk)")
    # Slices, not a numpy "S16" array: numpy strips trailing NUL bytes from "S" items, so
    # a key ending in 0x00 (1 text in 256) would never match again and be re-encoded forever.
    raw = bytes(payload[: n * KEY_BYTES])
    keys = [raw[i : i + KEY_BYTES] for i in range(0, n * KEY_BYTES, KEY_BYTES)]
    vectors = np.frombuffer(payload[n * KEY_BYTES :], dtype="<f4").reshape(n, dim)
    return keys, vectors


class VectorCache:
    """Vectors of one model setup under ``root``; safe for many processes at once."""

    def __init__(self, root: str | os.PathLike, setup: str, dim: int, description: dict | None = None):
        self.root = Path(os.path.expanduser(os.fspath(root)))
        self.folder = self.root / setup
        self.dim = int(dim)
        self.description = description or {}
        self._index: dict[bytes, str] = {}  # key -> shard file name
        self._seen: set[str] = set()
        self._damaged: set[str] = set()  # damaged shards that could not be moved aside
        self.disabled_reason: str | None = None
        self.hits = 0
        self.misses = 0

    # -- reading -------------------------------------------------------------------
    def _shards(self) -> list[str]:
        try:
            # Not ".tmp-*.shard": another process is still writing those (renamed when whole).
            return sorted(p for p in os.listdir(self.folder) if p.endswith(SHARD_SUFFIX) and not p.startswith("."))
        except FileNotFoundError:
            return []
        except OSError as exc:  # cache_dir is a file, or cannot be listed: go on without it
            if self.disabled_reason is None:
                self.disabled_reason = f"{type(exc).__name__}: {exc}"
                warnings.warn(
                    f"bertfeat cache at {str(self.folder)!r} cannot be read ({self.disabled_reason}); "
                    "going on without it (results are unaffected)",
                    RuntimeWarning,
                    stacklevel=4,
                )
            return []

    def _quarantine(self, name: str, reason: str) -> None:
        warnings.warn(f"bertfeat cache: damaged shard ignored and recomputed: {reason}", RuntimeWarning, stacklevel=3)
        try:
            os.replace(self.folder / name, self.folder / (name + ".corrupt"))
        except OSError:
            # Another process moved it, or the folder is read-only: skip it from now on
            # (names are unique, so this one can never become a good shard again).
            self._damaged.add(name)
        self._forget(name)

    def _forget(self, name: str) -> None:
        self._index = {k: v for k, v in self._index.items() if v != name}
        self._seen.discard(name)

    def refresh(self) -> None:
        """Index shards that other calls or processes wrote since the last look."""
        names = self._shards()
        gone = self._seen - set(names)
        for name in gone:  # compacted or cleared by another process
            self._forget(name)
        for name in names:
            if name in self._seen or name in self._damaged:
                continue
            try:
                keys, vectors = _read_shard(self.folder / name)
            except FileNotFoundError:
                continue
            except CorruptShard as exc:
                self._quarantine(name, str(exc))
                continue
            if vectors.shape[1] != self.dim:
                self._quarantine(name, f"{name}: dim {vectors.shape[1]} != {self.dim}")
                continue
            self._seen.add(name)
            for k in keys:
                self._index[k] = name

    def get(self, keys: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """(found mask, vectors of the found keys in order). Every shard read is verified."""
        found = np.zeros(len(keys), dtype=bool)
        out = np.empty((len(keys), self.dim), dtype=np.float32)
        self.refresh()
        by_shard: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            name = self._index.get(k)
            if name is not None:
                by_shard.setdefault(name, []).append(i)
        for name, rows in by_shard.items():
            try:
                shard_keys, vectors = _read_shard(self.folder / name)
            except FileNotFoundError:
                self._forget(name)
                continue
            except CorruptShard as exc:
                self._quarantine(name, str(exc))
                continue
            position = {k: j for j, k in enumerate(shard_keys)}
            for i in rows:
                j = position.get(keys[i])
                if j is not None:
                    out[i] = vectors[j]
                    found[i] = True
        self.hits += int(found.sum())
        self.misses += int((~found).sum())
        return found, out[found]

    # -- writing -------------------------------------------------------------------
    def put(self, keys: list[bytes], vectors: np.ndarray) -> None:
        """Add a shard with the keys not stored yet. On a write error, warn once and go on uncached."""
        if self.disabled_reason is not None or not keys:
            return
        new = [i for i, k in enumerate(keys) if k not in self._index]
        if not new:
            return
        key_block = b"".join(keys[i] for i in new)
        vector_block = np.ascontiguousarray(vectors[new], dtype="<f4").tobytes()
        digest = hashlib.blake2b(key_block + vector_block, digest_size=32).digest()
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SHARD_SUFFIX}"
        tmp = self.folder / f".tmp-{name}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._write_description()
            with open(tmp, "wb") as handle:
                handle.write(HEADER.pack(MAGIC, len(new), self.dim, digest))
                handle.write(key_block)
                handle.write(vector_block)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.folder / name)
        except OSError as exc:
            try:
                tmp.unlink()
            except OSError:
                pass
            self.disabled_reason = f"{type(exc).__name__}: {exc}"
            warnings.warn(
                f"bertfeat cache at {str(self.folder)!r} cannot be written ({self.disabled_reason}); "
                "going on without storing vectors (results are unaffected)",
                RuntimeWarning,
                stacklevel=3,
            )
            return
        self._seen.add(name)
        for i in new:
            self._index[keys[i]] = name

    def _write_description(self) -> None:
        target = self.folder / "setup.json"
        if target.exists():
            return
        tmp = self.folder / f".tmp-setup-{uuid.uuid4().hex[:8]}.json"
        tmp.write_text(json.dumps({"dim": self.dim, **self.description}, indent=2, sort_keys=True))
        os.replace(tmp, target)

    # -- housekeeping --------------------------------------------------------------
    def _lock(self):
        from filelock import FileLock

        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / ".bertfeat.lock"))

    def info(self) -> dict:
        self.refresh()
        shards = self._shards()
        size = sum((self.folder / s).stat().st_size for s in shards if (self.folder / s).exists())
        return {
            "folder": str(self.folder),
            "entries": len(self._index),
            "shards": len(shards),
            "bytes": size,
            "hits": self.hits,
            "misses": self.misses,
            "disabled": self.disabled_reason,
        }

    def compact(self) -> None:
        """Merge every valid shard into one (fewer files to scan); safe beside readers."""
        with self._lock():
            self.refresh()
            names = self._shards()
            if len(names) < 2:
                return
            keys, vectors = [], []
            for name in names:
                try:
                    k, v = _read_shard(self.folder / name)
                except (CorruptShard, FileNotFoundError):
                    continue
                keys.extend(k)
                vectors.append(v)
            first: dict[bytes, int] = {}
            for j, k in enumerate(keys):
                first.setdefault(k, j)
            rows = np.fromiter(first.values(), dtype=np.int64, count=len(first))
            self._index.clear()
            self._seen.clear()
            self.put(list(first), np.concatenate(vectors)[rows])
            if self.disabled_reason is None:
                for name in names:
                    try:
                        os.unlink(self.folder / name)
                    except FileNotFoundError:
                        pass
            self._index.clear()
            self._seen.clear()

    def clear(self) -> None:
        """Delete this setup's vectors."""
        import shutil

        with self._lock():
            shutil.rmtree(self.folder, ignore_errors=True)
        self._index.clear()
        self._seen.clear()

    def remove_stale_temporaries(self) -> None:
        """Temporary files of writers killed mid-write (older than an hour) are deleted."""
        now = time.time()
        for path in self.folder.glob(".tmp-*"):
            try:
                if now - path.stat().st_mtime > STALE_TMP_SECONDS:
                    path.unlink()
            except OSError:
                pass
