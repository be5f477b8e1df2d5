"""The disk cache's data files: append-only records, one file per writer, read by memory map.

A record is ``key (16 bytes) | vector (dim x float32 LE)``. A writer creates its own file
(exclusive create, then an advisory ``flock`` held while it may still append), appends,
fsyncs, and returns the rows for the index to publish. Readers map files read-only and
check every record they return against its index row (key, crc32, row inside the file).
``compact`` rewrites the files no writer holds into one and repoints their index rows.
"""

from __future__ import annotations

import os
import time
import uuid
import zlib
from pathlib import Path

import numpy as np

from bertfeat import _cache_index as index

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; compaction then treats every file as held
    fcntl = None

DATA_SUFFIX = ".vec"
COPY_ROWS = 65536  # records copied at once by compact


def lock_file(handle) -> None:
    """Hold an exclusive advisory lock on an open data file (released when it is closed)."""
    if fcntl is not None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def file_is_locked(path: Path) -> bool:
    """True while some process (this one included, through another handle) holds ``path``."""
    if fcntl is None:
        return True
    with open(path, "rb") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False


class DataFiles:
    """This process's view of one setup folder's data files."""

    def __init__(self, folder: Path, records: np.dtype):
        self.folder = folder
        self.records = records
        self.names: dict[int, str] = {}  # file id -> name (ids are never reused)
        self.maps: dict[int, np.ndarray] = {}  # file id -> read-only memory map of its records
        self.handle = None  # the file this process appends to
        self.name = ""
        self.file_id: int | None = None
        self.rows = 0

    def __del__(self):
        self.close()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()  # releases the lock: compact may merge it now
        self.handle = None
        self.maps.clear()

    def on_disk(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.folder) if n.endswith(DATA_SUFFIX) and not n.startswith("."))
        except OSError:
            return []

    # -- writing -------------------------------------------------------------------------
    def create(self) -> None:
        """This writer's own file: created exclusively and locked (a read-only folder fails here)."""
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}{DATA_SUFFIX}"
        handle = open(self.folder / name, "xb")
        try:
            lock_file(handle)
        except BaseException:
            handle.close()
            raise
        self.handle, self.name, self.file_id, self.rows = handle, name, None, 0

    def append(self, db, records: np.ndarray) -> tuple[int, int]:
        """(file id, first row) of ``records``, written and fsynced (not yet in the index)."""
        if self.handle is None:
            self.create()
        if self.file_id is None:  # registered before any of its rows is published
            self.file_id = index.register_file(db, self.name)
            self.names[self.file_id] = self.name
        start = self.rows * self.records.itemsize
        try:
            self.handle.write(records.tobytes())
            self.handle.flush()
            os.fsync(self.handle.fileno())
        except BaseException:
            try:  # leave the file as it was; it is abandoned either way
                self.handle.truncate(start)
            except (OSError, ValueError):
                pass
            self.handle.close()
            self.handle = None
            raise
        first, self.rows = self.rows, self.rows + len(records)
        return self.file_id, first

    # -- reading -------------------------------------------------------------------------
    def _map(self, db, file_id: int, need_rows: int) -> np.ndarray:
        """Records of a file, mapped again if it grew since; FileNotFoundError if it is gone."""
        mapped = self.maps.get(file_id)
        if mapped is not None and len(mapped) >= need_rows:
            return mapped
        name = self.names.get(file_id)
        if name is None:
            self.names = index.file_names(db)
            name = self.names.get(file_id)
            if name is None:
                raise FileNotFoundError(f"file id {file_id} is not in the index")
        path = self.folder / name
        n = os.stat(path).st_size // self.records.itemsize
        with open(path, "rb") as handle:  # IsADirectoryError, PermissionError: damaged entries
            mapped = np.memmap(handle, dtype=self.records, mode="r", shape=(n,)) if n else np.empty(0, self.records)
        self.maps[file_id] = mapped
        return mapped

    def read(self, db, rows, position: dict, found: np.ndarray, out: np.ndarray) -> list:
        """Fill ``out``/``found`` from index rows ``(key, file, row, crc)``; the damaged ones back
        as ``(key, file, row, reason)``. A file gone under a compaction is looked up again, once."""
        damaged = []
        by_file: dict[int, list] = {}
        for entry in rows:
            by_file.setdefault(entry[1], []).append(entry)
        for file_id, entries in by_file.items():
            try:
                gone = self._read_file(db, file_id, entries, position, found, out, damaged)
            except FileNotFoundError:
                gone = entries
            except OSError as exc:
                reason = f"{self.names.get(file_id, file_id)}: cannot be read ({type(exc).__name__}: {exc})"
                damaged += [(k, f, r, reason) for k, f, r, _ in entries]
                continue
            if gone:
                self.maps.pop(file_id, None)
                moved = [e for e in index.lookup(db, [e[0] for e in gone]) if e[1] != file_id]
                if moved:
                    damaged += self.read(db, moved, position, found, out)
                still = {e[0] for e in moved}
                name = self.names.get(file_id, f"file id {file_id}")
                damaged += [(k, f, r, f"{name}: data file is missing") for k, f, r, _ in gone if k not in still]
        return damaged

    def _read_file(self, db, file_id, entries, position, found, out, damaged) -> list:
        entries.sort(key=lambda e: e[2])  # file order: sequential reads where rows are close
        row_numbers = np.fromiter((e[2] for e in entries), dtype=np.int64, count=len(entries))
        mapped = self._map(db, file_id, int(row_numbers[-1]) + 1)
        inside = row_numbers < len(mapped)
        name = self.names[file_id]
        for e in (e for e, ok in zip(entries, inside) if not ok):
            damaged.append((e[0], e[1], e[2], f"{name}: row {e[2]} is past the end of the file (truncated)"))
        if not inside.all():
            entries = [e for e, ok in zip(entries, inside) if ok]
            row_numbers = row_numbers[inside]
        if not entries:
            return []
        got = mapped[row_numbers]  # one gather per file: reads these records only
        wanted = np.frombuffer(b"".join(e[0] for e in entries), dtype=self.records["key"])
        same_key = got["key"] == wanted
        raw = memoryview(got.view(np.uint8))
        size = self.records.itemsize
        good = np.empty(len(entries), dtype=bool)
        for j, e in enumerate(entries):
            good[j] = same_key[j] and zlib.crc32(raw[j * size : (j + 1) * size]) == e[3]
            if not good[j]:
                problem = "holds another key" if not same_key[j] else "checksum mismatch (bytes changed on disk)"
                damaged.append((e[0], e[1], e[2], f"{name}: row {e[2]} {problem}"))
        slots = np.fromiter((position[e[0]] for e in entries), dtype=np.int64, count=len(entries))
        out[slots[good]] = got["vector"][good]
        found[slots[good]] = True
        return []

    # -- compaction ----------------------------------------------------------------------
    def compact(self, db) -> int:
        """Merge every data file no writer holds into one new file; the number merged."""
        self.names = index.file_names(db)
        idle = [(i, n) for i, n in sorted(self.names.items()) if not _held(self.folder / n)]
        if len(idle) < 2:
            return 0
        self.create()
        try:
            for file_id, name in idle:
                self._move(db, file_id, name)
        finally:
            self.close()
        return len(idle)

    def _move(self, db, file_id: int, name: str) -> None:
        entries = index.rows_of_file(db, file_id)
        moved = []
        if entries:
            try:
                mapped = self._map(db, file_id, 0)
            except OSError:
                mapped = np.empty(0, self.records)
            for start in range(0, len(entries), COPY_ROWS):
                chunk = [e for e in entries[start : start + COPY_ROWS] if e[1] < len(mapped)]
                if not chunk:
                    continue
                got = mapped[np.fromiter((e[1] for e in chunk), dtype=np.int64, count=len(chunk))]
                wanted = np.frombuffer(b"".join(e[0] for e in chunk), dtype=self.records["key"])
                crcs = record_crcs(got)
                keep = [j for j, e in enumerate(chunk) if got["key"][j] == wanted[j] and crcs[j] == e[2]]
                if keep:
                    _, first = self.append(db, got[keep])
                    moved += [(chunk[j][0], chunk[j][1], first + i) for i, j in enumerate(keep)]
        index.move_file(db, file_id, self.file_id, moved)
        self.maps.pop(file_id, None)
        try:
            os.unlink(self.folder / name)
        except OSError:
            pass


def record_crcs(records: np.ndarray) -> list[int]:
    """crc32 of each record (key + vector bytes): the per-entry checksum kept in the index."""
    raw = memoryview(np.ascontiguousarray(records).view(np.uint8))
    size = records.dtype.itemsize
    return [zlib.crc32(raw[i : i + size]) for i in range(0, len(raw), size)]


def _held(path: Path) -> bool:
    try:
        return file_is_locked(path)
    except FileNotFoundError:  # gone: its index rows are dropped
        return False
    except OSError:
        return True
