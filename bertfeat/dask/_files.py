"""Text files as lazy dask collections (read on the workers, in file order)."""

from __future__ import annotations

import glob as _glob
import os
from pathlib import Path

import dask.bag as db
import dask.dataframe as dd

from bertfeat._files import CSV_OPTIONS, JSON_OPTIONS, KINDS, txt_line

FORMATS = KINDS  # the same formats, and the same reading rules, as the command line


def _expand(paths) -> list[str]:
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    found: list[str] = []
    for item in items:
        text = os.path.expanduser(os.fspath(item))
        if any(ch in text for ch in "*?["):
            matches = sorted(_glob.glob(text))
            if not matches:
                raise FileNotFoundError(f"no file matches {text!r}")
            found += matches
        elif os.path.isdir(text):
            inside = sorted(str(p) for p in Path(text).iterdir() if p.is_file() and p.suffix.lower() in FORMATS)
            if not inside:
                raise FileNotFoundError(f"folder {text!r} holds no {'/'.join(sorted(FORMATS))} file")
            found += inside
        elif os.path.isfile(text):
            found.append(text)
        else:
            raise FileNotFoundError(f"file {text!r} does not exist")
    return [os.path.abspath(p) for p in found]


def read_files(paths, *, blocksize=None):
    """A lazy dask collection over text files, read on the workers, in file order.

    ``.txt``: one text per line (a dask Bag). ``.csv``, ``.tsv``,
    ``.jsonl`` (JSON lines) and ``.parquet``: a dask DataFrame of all their columns (pick
    the text with ``columns="text"`` in transform/to_parquet; that is the default for
    paths given straight to them). The rules are those of ``bertfeat._files``, shared
    with the command line: CSV cells stay strings (empty fields are ``""``); JSON
    strings are not converted to numbers or dates. ``paths``: a file, a folder, a glob or a list of
    these; all of one format. ``blocksize`` (bytes or "64MB") splits big txt/csv/jsonl
    files into several partitions; None is one partition per file (parquet: per row group
    as dask decides).
    """
    files = _expand(paths)
    if not files:
        raise FileNotFoundError("no files given")
    kinds = {FORMATS.get(Path(f).suffix.lower()) for f in files}
    if None in kinds:
        odd = [f for f in files if Path(f).suffix.lower() not in FORMATS][:3]
        raise ValueError(f"unknown file type for {odd}; expected one of {sorted(FORMATS)}")
    if len(kinds) > 1:
        raise ValueError(f"files of several formats {sorted(kinds)}; read each format on its own")
    kind = kinds.pop()
    if kind == "txt":
        return db.read_text(files, blocksize=blocksize, linedelimiter="\n", encoding="utf-8").map(txt_line)
    if kind in CSV_OPTIONS:
        return dd.read_csv(files, blocksize=blocksize, **CSV_OPTIONS[kind])
    if kind == "jsonl":
        return dd.read_json(files, blocksize=blocksize, **JSON_OPTIONS)
    return dd.read_parquet(files)

