"""The one way bertfeat writes a file or a folder that others may read while it is written:
into a temporary sibling, fsynced, then renamed over the target (``os.replace``, atomic on
one file system). A reader sees the old whole thing or the new whole thing, never half; a
writer killed midway leaves only a ``.tmp-*`` (file) or ``.<name>.saving-*`` (folder)
sibling that nobody reads.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary handle whose bytes become ``target`` only when the block ends without error.

    Parameters
    ----------
    target : str or path
        The file to write; its folder must exist.

    Yields
    ------
    file object
        Opened for binary writing on ``.tmp-<random>-<name>`` beside ``target``; flushed,
        fsynced and renamed to ``target`` at the end of the block, removed on an error.
    """
    target = Path(target)
    tmp = target.with_name(f".tmp-{uuid.uuid4().hex[:12]}-{target.name}")
    try:
        with open(tmp, "xb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())  # whole on disk before it gets its final name
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomically(target: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to ``target`` through :func:`atomic_file`."""
    with atomic_file(target) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike) -> Iterator[Path]:
    """A fresh folder whose files become ``target`` only when the block ends without error.

    Parameters
    ----------
    target : str or path
        The folder to write; its parent is created. An existing ``target`` is replaced
        whole (moved aside, the new one renamed in, the old one deleted).

    Yields
    ------
    Path
        An empty ``.<name>.saving-<random>`` folder beside ``target``; its files are fsynced
        and it is renamed to ``target`` at the end of the block, removed on an error.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.saving-", dir=target.parent))
    try:
        yield tmp
        for path in tmp.rglob("*"):
            if path.is_file():
                _fsync(path)
        if target.exists():
            old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:12]}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
