"""The disk cache's index: one SQLite file (WAL) mapping a key to (data file, row, crc32).

Only SQL lives here; :mod:`bertfeat._cache` decides what to do with the answers. The index
holds no vectors: they stay in append-only data files (see ``_cache``'s docstring for why).

Schema (``PRAGMA user_version`` = :data:`FORMAT`)::

    files(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE)  -- ids are never reused
    entries(k INTEGER PRIMARY KEY, file INTEGER, row INTEGER, crc INTEGER)
    quarantine(k, file, row, reason, at)                             -- damaged entries, for people

``k`` is the first 8 bytes of the 16-byte key (:func:`short`): an integer primary key keeps
index rows small, and inserting random keys costs half of what 16-byte BLOB keys cost
(measured: 15 s against 30 s for 1,000,000 keys on the loaded 2-core machine). The record in
the data file holds the whole key, checked at every read: two texts sharing ``k`` (odds about
n^2 / 2^65, 3e-6 for ten million texts) make the second a permanent miss, never a wrong vector.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

FORMAT = 2
INDEX_NAME = "index.sqlite"
BUSY_TIMEOUT_S = 120.0  # a writer waits this long for another writer's transaction

_PAGE_SIZE = 4096
_CHECKPOINT_PAGES = 8 * 2**20 // _PAGE_SIZE
_CACHE_PAGES_KIB = 65536  # 64 MiB page cache: inserts of random keys stay in memory
_MMAP_BYTES = 2**31  # SQLite's default ceiling; the index of 10M vectors is ~0.3 GB

SCHEMA = """
CREATE TABLE IF NOT EXISTS files(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS entries(k INTEGER PRIMARY KEY, file INTEGER NOT NULL, row INTEGER NOT NULL, crc INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine(k INTEGER, file INTEGER, row INTEGER, reason TEXT, at REAL);
"""


def short(key: bytes) -> int:
    """The index's integer form of a 16-byte key: its first 8 bytes, little-endian, signed."""
    return int.from_bytes(key[:8], "little", signed=True)


class IndexDamaged(Exception):
    """The index file is not a database, or SQLite found it malformed."""


class NewerFormat(Exception):
    """The index was written by a newer bertfeat."""


def is_damage(exc: BaseException) -> bool:
    """True for SQLite's "file is not a database" / "database disk image is malformed"."""
    name = getattr(exc, "sqlite_errorname", "")
    return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in str(exc) or "not a database" in str(exc)


def connect(folder: Path, *, create: bool) -> tuple[sqlite3.Connection, bool]:
    """(connection, writable). ``create`` makes the file and schema; else a missing index raises
    FileNotFoundError. A folder that cannot be written still gets a read-only connection."""
    path = folder / INDEX_NAME
    if not create:
        os.stat(path)  # FileNotFoundError: nothing cached yet; other OSErrors: folder unreadable
    try:
        db = _open(f"file:{path}?mode={'rwc' if create else 'rw'}", create)
    except sqlite3.OperationalError:
        if create:
            raise
        # A WAL database in a folder this process may not write (no -shm can be made): read it
        # as immutable; nobody can add to it from here, and this process never writes through it.
        db = _open(f"file:{path}?immutable=1", False)
        _check_format(db)
        if db.execute("PRAGMA user_version").fetchone()[0] == 0:
            db.close()
            raise FileNotFoundError(f"{path}: holds no index yet") from None
        return db, False
    _check_format(db)
    if create:
        _create_schema(db)
    elif db.execute("PRAGMA user_version").fetchone()[0] == 0:  # another process is creating it
        db.close()
        raise FileNotFoundError(f"{path}: being created")
    return db, True


def _open(uri: str, create: bool) -> sqlite3.Connection:
    db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    try:
        db.execute(f"PRAGMA cache_size=-{_CACHE_PAGES_KIB}")
        db.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")  # pages read through a map: no syscall per page
        if create:
            db.execute(f"PRAGMA page_size={_PAGE_SIZE}")  # 512 and 1024 measured no faster
            db.execute(f"PRAGMA wal_autocheckpoint={_CHECKPOINT_PAGES}")
            db.execute("PRAGMA journal_mode=WAL")  # persistent: readers never block writers
        db.execute("PRAGMA synchronous=NORMAL")  # index rows are published after their data is fsynced
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # "file is not a database" shows here
    except sqlite3.DatabaseError as exc:
        db.close()
        if is_damage(exc):
            raise IndexDamaged(str(exc)) from exc
        raise
    return db


def _check_format(db: sqlite3.Connection) -> None:
    found = db.execute("PRAGMA user_version").fetchone()[0]
    if found > FORMAT:
        db.close()
        raise NewerFormat(f"its index has format {found}, this bertfeat reads format {FORMAT}")


def _create_schema(db: sqlite3.Connection) -> None:
    if db.execute("PRAGMA user_version").fetchone()[0] == FORMAT:
        return  # made already: touch nothing (a read-only folder stays byte-identical)
    with transaction(db):
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute(f"PRAGMA user_version={FORMAT}")


class transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rollback on error): one writer at a time, others wait."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind, exc, tb):
        if kind is None:
            self.db.execute("COMMIT")
        elif self.db.in_transaction:
            self.db.execute("ROLLBACK")
        return False


def _batch_size(db: sqlite3.Connection) -> int:
    try:
        return max(1, min(30000, db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) - 1))
    except AttributeError:  # Python < 3.11
        return 999


def lookup(db: sqlite3.Connection, keys: list[int], wanted: dict | None = None) -> list[tuple[int, int, int, int]]:
    """(k, file id, row, crc) of the short keys that are indexed; one index probe per key.

    ``wanted`` (a dict or set of ``keys``) asks for one sequential scan of the index instead:
    faster when the keys are a large share of it (a bulk read of the whole cache)."""
    if wanted is not None:
        db.execute("PRAGMA mmap_size=0")  # a whole scan: large reads beat faulting in every page
        try:
            every = db.execute("SELECT k, file, row, crc FROM entries").fetchall()
        finally:
            db.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
        return [r for r in every if r[0] in wanted]
    found = []
    step = _batch_size(db)
    for start in range(0, len(keys), step):
        batch = keys[start : start + step]
        marks = ",".join("?" * len(batch))
        found += db.execute(f"SELECT k, file, row, crc FROM entries WHERE k IN ({marks})", batch).fetchall()
    return found


def register_file(db: sqlite3.Connection, name: str) -> int:
    with transaction(db):
        return db.execute("INSERT INTO files(name) VALUES (?)", (name,)).lastrowid


def file_names(db: sqlite3.Connection) -> dict[int, str]:
    return dict(db.execute("SELECT id, name FROM files"))


def publish(db: sqlite3.Connection, rows) -> None:
    """Make entries visible at once (one transaction); a key stored already keeps its first row."""
    with transaction(db):
        db.executemany("INSERT OR IGNORE INTO entries(k, file, row, crc) VALUES (?, ?, ?, ?)", rows)


def quarantine(db: sqlite3.Connection, damaged: list[tuple[bytes, int, int, str]]) -> None:
    """Remove damaged entries from the index (kept in ``quarantine`` for people to inspect)."""
    now = time.time()
    with transaction(db):
        for key, file, row, reason in damaged:
            gone = db.execute("DELETE FROM entries WHERE k=? AND file=? AND row=?", (key, file, row)).rowcount
            if gone:
                db.execute("INSERT INTO quarantine VALUES (?, ?, ?, ?, ?)", (key, file, row, reason, now))


def entry_count(db: sqlite3.Connection) -> int:
    return db.execute("SELECT count(*) FROM entries").fetchone()[0]


def rows_of_file(db: sqlite3.Connection, file: int) -> list[tuple[bytes, int, int]]:
    return db.execute("SELECT k, row, crc FROM entries WHERE file=? ORDER BY row", (file,)).fetchall()


def move_file(db: sqlite3.Connection, old: int, new: int, moved: list[tuple[bytes, int, int]]) -> None:
    """Point ``moved`` (k, old row, new row) at file ``new``; forget file ``old``; one transaction."""
    with transaction(db):
        db.executemany(
            "UPDATE entries SET file=?, row=? WHERE k=? AND file=? AND row=?",
            ((new, new_row, key, old, old_row) for key, old_row, new_row in moved),
        )
        db.execute("DELETE FROM entries WHERE file=?", (old,))  # damaged ones, already warned about
        db.execute("DELETE FROM files WHERE id=?", (old,))
