"""Format 1 of the disk cache (``*.shard`` files, bertfeat before the SQLite index): read once,
verified, imported into the current store, then deleted.

A format-1 shard is one file written by one ``transform`` chunk::

    b"BFSHARD1" | n (u64) | dim (u64) | blake2b-256 of the payload | keys (n x 16 bytes) | vectors (n x dim float32)
"""

from __future__ import annotations

import hashlib
import os
import struct
import warnings
from pathlib import Path

import numpy as np

MAGIC = b"BFSHARD1"
HEADER = struct.Struct("<8sQQ32s")
KEY_BYTES = 16
SHARD_SUFFIX = ".shard"


class CorruptShard(Exception):
    pass


def read_shard(path: Path) -> tuple[list[bytes], np.ndarray]:
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
    raw = bytes(payload[: n * KEY_BYTES])  # slices, not numpy "S16" (it strips trailing NULs)
    keys = [raw[i : i + KEY_BYTES] for i in range(0, n * KEY_BYTES, KEY_BYTES)]
    vectors = np.frombuffer(payload[n * KEY_BYTES :], dtype="<f4").reshape(n, dim)
    return keys, vectors


def has_shards(folder: Path) -> bool:
    try:
        return any(n.endswith(SHARD_SUFFIX) and not n.startswith(".") for n in os.listdir(folder))
    except OSError:
        return False


def import_shards(cache) -> int:
    """Move every valid format-1 shard of ``cache.folder`` into ``cache``; the vectors imported.

    Damaged shards are renamed ``.corrupt`` with a warning (their texts are recomputed).
    OSError / sqlite3 errors propagate: the caller refuses the folder with a clear message.
    """
    names = sorted(n for n in os.listdir(cache.folder) if n.endswith(SHARD_SUFFIX) and not n.startswith("."))
    imported = 0
    for name in names:
        path = cache.folder / name
        try:
            keys, vectors = read_shard(path)
            if vectors.shape[1] != cache.dim:
                raise CorruptShard(f"{name}: dim {vectors.shape[1]} != {cache.dim}")
        except FileNotFoundError:  # imported by another process meanwhile
            continue
        except CorruptShard as exc:
            warnings.warn(
                f"bertfeat cache: damaged shard of format 1 not imported (its texts will be recomputed): {exc}",
                RuntimeWarning,
                stacklevel=6,
            )
            os.replace(path, path.with_name(name + ".corrupt"))
            continue
        if keys:
            cache._write(keys, vectors)
            cache.flush()  # fsynced and published before the shard goes
        os.unlink(path)
        imported += len(keys)
    cache._write_description(replace=True)  # now says format 2
    return imported
