"""The disk cache's data files: append-only records, one file per writer, read by memory map.

A record is ``key (16 bytes) | vector (dim x float32 LE)``. A writer creates its own file
(exclusive create, then an advisory ``flock`` held while it may still append), appends,
fsyncs, and returns the rows for the index to publish. Readers map files read-only and
check every record they return against its index row (key, crc32, row inside the file).
``compact`` rewrites the files no writer holds into one and repoints their index rows.
"""

from __future__ import annotations

import mmap
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
READ_ROWS = 8192  # records checked at once by a lookup
_WILLNEED = getattr(mmap, "MADV_WILLNEED", None)  # absent on Windows: no read-ahead hints


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
        self.mmaps: dict[int, mmap.mmap] = {}  # file id -> the mapping under maps[file id]
        self.handle = None  # the file this process appends to
        self.name = ""
        self.file_id: int | None = None
        self.rows = 0
        self.synced_rows = 0

    def __del__(self):
        self.close()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()  # releases the lock: compact may merge it now (unsynced rows are unpublished)
        self.handle = None
        self.maps.clear()
        self.mmaps.clear()

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
        self.handle, self.name, self.file_id, self.rows, self.synced_rows = handle, name, None, 0, 0

    def append(self, db, records: np.ndarray) -> tuple[int, int]:
        """(file id, first row) of ``records``, written (fsynced by :meth:`sync`, before any of
        them is published: one fsync per publication, not per chunk)."""
        if self.handle is None:
            self.create()
        if self.file_id is None:  # registered before any of its rows is published
            self.file_id = index.register_file(db, self.name)
            self.names[self.file_id] = self.name
        try:
            self.handle.write(records.view(np.uint8))  # no copy: the array's own buffer
        except BaseException:
            self._abandon()
            raise
        first, self.rows = self.rows, self.rows + len(records)
        return self.file_id, first

    def sync(self) -> None:
        """Everything appended is on disk; on failure the file is cut back to what was synced."""
        if self.handle is None:
            return
        try:
            self.handle.flush()
            os.fsync(self.handle.fileno())
        except BaseException:
            self._abandon()
            raise
        self.synced_rows = self.rows

    def _abandon(self) -> None:
        try:  # leave the file as it was at the last sync; it is not appended to again
            self.handle.truncate(self.synced_rows * self.records.itemsize)
        except (OSError, ValueError):
            pass
        try:
            self.handle.close()
        except OSError:
            pass
        self.handle = None

    # -- reading -------------------------------------------------------------------------
    def rows_on_disk(self, db) -> int:
        """Records in the indexed data files (entries plus unused rows): the cache's size, cheaply."""
        self.names = index.file_names(db)
        total = 0
        for name in self.names.values():
            try:
                total += os.stat(self.folder / name).st_size
            except OSError:
                pass
        return total // self.records.itemsize

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
        mapped = np.empty(0, self.records)
        self.mmaps.pop(file_id, None)
        if n:
            with open(path, "rb") as handle:  # IsADirectoryError, PermissionError: damaged entries
                self.mmaps[file_id] = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            mapped = np.frombuffer(self.mmaps[file_id], dtype=self.records, count=n)
        self.maps[file_id] = mapped
        return mapped

    def _prefetch(self, file_id: int, rows: np.ndarray) -> None:
        """Ask the kernel to start reading the pages that hold ``rows``, all at once.

        Copying records out of a mapping faults their pages in one at a time; from a cold disk
        that is one wait per record (1,000 hits from 1M vectors: 0.9 s). Hinted first, the
        reads are queued together (0.08 s); from the page cache the hints cost ~1 ms."""
        handle = self.mmaps.get(file_id)
        if _WILLNEED is None or handle is None:
            return
        rows = rows[rows < len(self.maps[file_id])]
        if not len(rows):
            return
        size, page = self.records.itemsize, mmap.PAGESIZE
        pages = np.sort(np.concatenate([rows * size // page, ((rows + 1) * size - 1) // page]))
        # Runs of neighbouring pages, one hint each (np.unique would cost a 15 ms lazy import).
        new_run = np.diff(pages) > 1
        starts = pages[np.concatenate([[True], new_run])]
        ends = pages[np.concatenate([new_run, [True]])] + 1
        for start, end in zip(starts.tolist(), ends.tolist()):
            handle.madvise(_WILLNEED, start * page, (end - start) * page)

    def read(self, db, rows, position: dict, requested: np.ndarray, found: np.ndarray, out: np.ndarray) -> list:
        """Fill ``out``/``found`` from index rows ``(k, file, row, crc)``; the damaged ones back as
        ``(k, file, row, reason)``. ``position`` maps k to its slot, ``requested`` holds the full
        keys (V16) by slot. A file gone under a compaction is looked up again, once."""
        ks, files, row_numbers, crcs = zip(*rows)
        k_array = np.array(ks, dtype=np.int64)
        files = np.array(files, dtype=np.int64)
        row_numbers = np.array(row_numbers, dtype=np.int64)
        crcs = np.array(crcs, dtype=np.uint32)
        slots = np.fromiter(map(position.__getitem__, ks), dtype=np.int64, count=len(ks))
        order = np.lexsort((row_numbers, files))  # per file, in file order: near rows read together
        bounds = np.flatnonzero(np.diff(files[order])) + 1
        damaged = []
        for part in np.split(order, bounds):
            file_id = int(files[part[0]])
            try:
                self._read_file(db, file_id, ks, part, k_array[part], row_numbers[part], crcs[part], slots[part], requested, found, out, damaged)
                continue
            except FileNotFoundError:
                pass
            except OSError as exc:
                reason = f"{self.names.get(file_id, file_id)}: cannot be read ({type(exc).__name__}: {exc})"
                damaged += [(ks[i], file_id, int(row_numbers[i]), reason) for i in part]
                continue
            self.maps.pop(file_id, None)  # gone: moved by a compaction meanwhile, or deleted
            self.mmaps.pop(file_id, None)
            moved = [e for e in index.lookup(db, [ks[i] for i in part]) if e[1] != file_id]
            if moved:
                damaged += self.read(db, moved, position, requested, found, out)
            still = {e[0] for e in moved}
            name = self.names.get(file_id, f"file id {file_id}")
            damaged += [(ks[i], file_id, int(row_numbers[i]), f"{name}: data file is missing") for i in part if ks[i] not in still]
        return damaged

    def _read_file(self, db, file_id, ks, part, k_array, row_numbers, crcs, slots, requested, found, out, damaged) -> None:
        mapped = self._map(db, file_id, int(row_numbers[-1]) + 1)
        name = self.names[file_id]
        for j in np.flatnonzero(row_numbers >= len(mapped)):
            reason = f"{name}: row {row_numbers[j]} is past the end of the file (truncated)"
            damaged.append((ks[part[j]], file_id, int(row_numbers[j]), reason))
        # Blocks of READ_ROWS records: temporaries small enough for the allocator to reuse
        # (fresh 100+ MB arrays cost more in page faults than the copy itself).
        if len(row_numbers) <= READ_ROWS:  # scattered hits; a bulk read gets the kernel's own read-ahead
            self._prefetch(file_id, row_numbers)
        for start in range(0, len(row_numbers), READ_ROWS):
            at = np.arange(start, min(start + READ_ROWS, len(row_numbers)))
            at = at[row_numbers[at] < len(mapped)]
            got = mapped[row_numbers[at]]  # reads these records only
            same_key = got["key"] == requested[slots[at]]
            sound = np.array(record_crcs(got), dtype=np.uint32) == crcs[at]
            stored_k = np.ascontiguousarray(got["key"]).view("<i8")[::2]  # the record's own short key
            indexed_k = k_array[at]
            # Another text with the same short key (same_key False, record sound, k equal): a
            # miss, nothing damaged. A record that does not match its index row: damaged.
            for j in np.flatnonzero(~sound | (stored_k != indexed_k)):
                problem = "checksum mismatch (bytes changed on disk)" if stored_k[j] == indexed_k[j] else "holds another key"
                i = at[j]
                damaged.append((ks[part[i]], file_id, int(row_numbers[i]), f"{name}: row {row_numbers[i]} {problem}"))
            good = same_key & sound
            if good.all():
                out[slots[at]] = got["vector"]
            else:
                out[slots[at[good]]] = got["vector"][good]
            found[slots[at[good]]] = True

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
                self._move(db, file_id, name)  # each file: its rows synced, then repointed
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
                stored_k = np.ascontiguousarray(got["key"]).view("<i8")[::2]
                crcs = record_crcs(got)
                keep = [j for j, e in enumerate(chunk) if stored_k[j] == e[0] and crcs[j] == e[2]]
                if keep:
                    _, first = self.append(db, got[keep])
                    moved += [(chunk[j][0], chunk[j][1], first + i) for i, j in enumerate(keep)]
        self.sync()
        index.move_file(db, file_id, self.file_id, moved)
        self.maps.pop(file_id, None)
        self.mmaps.pop(file_id, None)
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
