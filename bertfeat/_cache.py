"""The on-disk vector store: no text is encoded twice by the same model setup.

Layout (format 2): ``cache_dir/<setup>/`` per model setup (model fingerprint + every
option that changes a vector) holds ``setup.json`` (what the setup is, for people),
``index.sqlite`` (SQLite, WAL: key -> data file, row, crc32; :mod:`bertfeat._cache_index`)
and ``*.vec`` data files of append-only records ``key (16 bytes) | vector (dim float32 LE)``,
one per writing ``VectorCache``, read through memory maps (:mod:`bertfeat._cache_files`).

Why, measured (``benchmarks/cache_designs.py``, BENCHMARKS.md "Disk cache at scale"): a
lookup costs one index probe and one record read per key asked, whatever the cache size.
Vectors as SQLite BLOBs gave the same lookups, but writing 1,000,000 took 30 s against 18 s
(WAL writes every byte twice) and bulk reads ran at 57,000 against 89,000 texts/s. From a
cold disk (a new machine or Dask worker, a cache larger than memory) the pages of scattered
hits are hinted before they are read, so the reads wait together, not one after another
(``benchmarks/cache_cold.py``).

Promises:

- *No partial entry is visible.* Records are appended to the writer's own file; before
  any index row points at them the file is fsynced, then the rows are published in one
  transaction: per 65,536 rows or 2 s, and at :meth:`VectorCache.flush` (end of every
  ``transform``). The writing instance reads its pending rows at once; a writer killed
  earlier leaves bytes nobody reads (``compact`` drops them).
- *Concurrent writers lose nothing*: SQLite serialises the publishing transactions
  (``busy_timeout``); a key published twice keeps its first row.
- *Damage is recomputed, never returned*: each record read must match its index row (same
  key, crc32 of key + vector, row inside the file); a damaged entry goes to the
  ``quarantine`` table with a warning and is recomputed. A damaged index ("file is not a
  database" / "malformed") is moved aside with one warning; that process goes on uncached.
- *A folder that cannot be read or written degrades to no cache with one warning.*
- *Format 1* (``*.shard`` files) is verified and imported once, or refused with a message
  saying what to do where the folder cannot be written.

Connections, locks and memory maps are per process (``os.getpid``), never pickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from bertfeat import _cache_index as index
from bertfeat._atomic import write_atomically
from bertfeat._cache_faults import CacheFaults
from bertfeat._cache_files import DATA_SUFFIX, DataFiles, file_is_locked, record_crcs
from bertfeat._cache_legacy import has_shards, import_shards

KEY_BYTES = 16
STALE_TMP_SECONDS = 3600
SCAN_SHARE = 0.25  # lookups of at least this share of the stored rows scan the index instead
PUBLISH_ROWS = 65536  # index rows published at once (a transaction costs ~ the pages it dirties)...
PUBLISH_SECONDS = 2.0  # ...or sooner, when the oldest pending row waited this long (and at flush)
FORMAT = index.FORMAT


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


class VectorCache(CacheFaults):
    """Vectors of one model setup under ``root``; safe for many processes at once."""

    def __init__(self, root: str | os.PathLike, setup: str, dim: int, description: dict | None = None):
        self.root = Path(os.path.expanduser(os.fspath(root)))
        self.folder = self.root / setup
        self.dim = int(dim)
        self.description = description or {}
        self.records = np.dtype([("key", f"V{KEY_BYTES}"), ("vector", "<f4", (self.dim,))])
        self.disabled_reason: str | None = None
        self.hits = 0
        self.misses = 0
        self._unreadable = False  # reads failed: no lookups either
        self._skip: set[int] = set()  # damaged entries that could not be quarantined
        self._reset_process_state()

    # -- per-process state (never pickled, rebuilt after fork) -----------------------------
    def _reset_process_state(self) -> None:
        self._pid = os.getpid()
        self._mutex = threading.RLock()
        self._db = None
        self._writable = False
        self._legacy_checked = False
        self._file_lock = None
        self._pending: dict[int, tuple] = {}  # k -> (k, file, row, crc): stored, not yet published
        self._pending_since = 0.0
        self.files = DataFiles(self.folder, self.records)

    def __getstate__(self):
        self.flush()
        state = dict(self.__dict__)
        for name in ("_mutex", "_db", "files", "_file_lock", "_pending"):
            state.pop(name)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._reset_process_state()

    def _here(self) -> None:
        if self._pid != os.getpid():  # forked: the parent's connection and files are not ours
            self._reset_process_state()

    def __del__(self):
        try:
            self.flush()
        except Exception:  # interpreter shutting down: the rows stay unpublished (never half)
            pass

    def close(self) -> None:
        """Publish what is pending, close the index and data files (they reopen on the next call)."""
        with self._mutex:
            self.flush()
            self.files.close()
            if self._db is not None:
                self._db.close()
            self._db = None

    # -- the index -----------------------------------------------------------------------
    def _connection(self, create: bool):
        """The index, opened once per process; None when there is none (yet) or it is unusable."""
        self._here()
        if self._db is not None and (self._writable or not create):
            return self._db
        if not self._legacy_checked:
            self._legacy_checked = True
            if has_shards(self.folder) and not self._import_legacy():
                return None
        try:
            if create:
                self.folder.mkdir(parents=True, exist_ok=True)
                self._write_description()
                with self._lock():  # creating the file and schema: one process at a time
                    db, writable = index.connect(self.folder, create=True)
            else:
                db, writable = index.connect(self.folder, create=False)
        except FileNotFoundError:
            return None
        except index.IndexDamaged as exc:
            self._index_damaged(exc)
            return None
        except index.NewerFormat as exc:
            self._disable("read", RuntimeError(f"{exc}: upgrade bertfeat or use another cache_dir"))
            return None
        if self._db is not None:
            self._db.close()
        self._db, self._writable = db, writable
        return db

    # -- reading -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Nothing to do: every lookup asks the on-disk index (kept for callers of format 1)."""

    def get(self, keys: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """(found mask, vectors of the found keys in order). Every record read is verified."""
        found = np.zeros(len(keys), dtype=bool)
        out = np.empty((len(keys), self.dim), dtype=np.float32)
        if keys and not self._unreadable:
            with self._mutex:
                self._guarded("read", lambda: self._read(keys, found, out))
        hits = int(found.sum())
        self.hits += hits
        self.misses += len(keys) - hits
        return found, (out if hits == len(keys) else out[found])  # no copy when every key was found

    def _read(self, keys: list[bytes], found: np.ndarray, out: np.ndarray) -> None:
        db = self._connection(create=False)
        if db is None:
            return
        shorts = np.frombuffer(b"".join(keys), dtype="<i8")[::2].tolist()  # index.short of each key
        position = dict(zip(shorts, range(len(keys))))
        # Asked for a large share of the cache: one scan of the index beats a probe per key.
        scan = len(keys) >= SCAN_SHARE * self.files.rows_on_disk(db)
        rows = index.lookup(db, list(position), position if scan else None)
        if self._pending:  # this instance's own rows, stored but not yet published
            indexed = {r[0] for r in rows}
            rows += [self._pending[k] for k in position if k in self._pending and k not in indexed]
        if self._skip:
            rows = [r for r in rows if r[0] not in self._skip]
        if not rows:
            return
        requested = np.frombuffer(b"".join(keys), dtype=self.records["key"])
        damaged = self.files.read(db, rows, position, requested, found, out)
        if damaged:
            self._quarantine(db, damaged)

    # -- writing -------------------------------------------------------------------------
    def put(self, keys: list[bytes], vectors: np.ndarray) -> None:
        """Store vectors: data fsynced first, index rows published after (at once when
        ``PUBLISH_ROWS`` are pending or the oldest waited ``PUBLISH_SECONDS``, else at
        :meth:`flush`). This instance reads its pending rows at once. Errors: warn once, go on."""
        if self.disabled_reason is not None or not keys:
            return
        with self._mutex:
            self._guarded("written", lambda: self._write(keys, vectors))

    def _write(self, keys: list[bytes], vectors: np.ndarray) -> None:
        self._here()
        if self.files.handle is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.files.create()  # first, so that a read-only folder fails before anything is made
        db = self._connection(create=True)
        if db is None:
            return
        if not self._writable:
            raise PermissionError(13, "Permission denied (the index is read-only)", str(self.folder))
        records = np.empty(len(keys), dtype=self.records)
        records["key"] = np.frombuffer(b"".join(keys), dtype=self.records["key"])
        records["vector"] = vectors
        crcs = record_crcs(records)
        try:
            file_id, first_row = self.files.append(db, records)
        except BaseException:
            self._pending.clear()  # cut off with the file: never published
            raise
        if not self._pending:
            self._pending_since = time.monotonic()
        for k, row, crc in zip(map(index.short, keys), range(first_row, first_row + len(keys)), crcs):
            self._pending.setdefault(k, (k, file_id, row, crc))
        if len(self._pending) >= PUBLISH_ROWS or time.monotonic() - self._pending_since >= PUBLISH_SECONDS:
            self._publish(db)

    def _publish(self, db) -> None:
        # One transaction dirties about one page per key; sorted keys share pages.
        pending = self._pending
        try:
            self.files.sync()  # the data is on disk before any row points at it
        except BaseException:
            pending.clear()
            raise
        index.publish(db, [pending[k] for k in sorted(pending)])
        self._pending.clear()

    def flush(self) -> None:
        """Publish the rows this instance stored (their data is on disk already)."""
        if not self._pending or self._pid != os.getpid():
            return
        with self._mutex:
            if self._db is not None and self._writable:
                self._guarded("written", lambda: self._publish(self._db))
            if self.disabled_reason is not None:
                self._pending.clear()

    def _write_description(self, replace: bool = False) -> None:
        target = self.folder / "setup.json"
        if target.exists() and not replace:
            return
        write_atomically(target, json.dumps({"dim": self.dim, "format": FORMAT, **self.description}, indent=2, sort_keys=True))

    # -- format 1 ------------------------------------------------------------------------
    def _import_legacy(self) -> bool:
        """Import shards of format 1 into this store; False (and one warning) if that cannot be done."""
        try:
            probe = self.folder / f".tmp-probe-{uuid.uuid4().hex[:8]}"
            open(probe, "xb").close()  # can this folder be written at all? (nothing made if not)
            os.unlink(probe)
            with self._lock():
                import_shards(self)
        except (OSError, index.sqlite3.DatabaseError) as exc:
            self._disable(
                "read",
                OSError(
                    f"it holds shards of format 1 (bertfeat before the SQLite index) that cannot be imported "
                    f"here ({type(exc).__name__}: {exc}); open it once where the folder is writable to import "
                    "them, or delete the folder"
                ),
            )
            return False
        return self.disabled_reason is None

    # -- housekeeping --------------------------------------------------------------------
    def _lock(self):
        """The folder-wide lock of create / import / compact / clear (one object: re-entrant)."""
        from filelock import FileLock

        if self._file_lock is None:
            self.root.mkdir(parents=True, exist_ok=True)
            self._file_lock = FileLock(str(self.root / ".bertfeat.lock"))
        return self._file_lock

    def info(self) -> dict:
        self.flush()
        with self._mutex:
            db = None if self._unreadable else self._guarded("read", lambda: self._connection(create=False))
            entries = self._guarded("read", lambda: index.entry_count(db), 0) if db is not None else 0
        names = self.files.on_disk()
        size = 0
        for name in [*names, index.INDEX_NAME, index.INDEX_NAME + "-wal"]:
            try:
                size += (self.folder / name).stat().st_size
            except OSError:
                pass
        return {
            "folder": str(self.folder),
            "format": FORMAT,
            "entries": entries,
            "files": len(names),
            "bytes": size,
            "hits": self.hits,
            "misses": self.misses,
            "disabled": self.disabled_reason,
        }

    def compact(self) -> int:
        """Rewrite the data files no writer holds into one, dropping rows no entry uses and
        damaged ones; the number of files merged."""
        self.flush()
        with self._mutex, self._lock():
            self.files.close()  # our own data file is finished: it can be merged too
            db = self._connection(create=False)
            if db is None or not self._writable:
                return 0
            return self._guarded("written", lambda: self.files.compact(db), 0)

    def clear(self) -> None:
        """Delete this setup's vectors."""
        with self._mutex:
            self._pending.clear()
            self.close()
            with self._lock():
                shutil.rmtree(self.folder, ignore_errors=True)
            self._skip.clear()

    def remove_stale_temporaries(self) -> None:
        """Files no index refers to, that no writer holds, older than an hour, are deleted."""
        now = time.time()
        db = self._connection(create=False)
        known = set(index.file_names(db).values()) if db is not None else set()
        for path in [*self.folder.glob(".tmp-*"), *self.folder.glob(f"*{DATA_SUFFIX}")]:
            try:
                if path.name in known or now - path.stat().st_mtime <= STALE_TMP_SECONDS or file_is_locked(path):
                    continue
                path.unlink()
            except OSError:
                pass


__all__ = ["VectorCache", "text_key", "setup_key"]
