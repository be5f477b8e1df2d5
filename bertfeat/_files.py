"""One set of rules for reading data files, shared by the command line and Dask.

The command line reads a whole file with pandas (``bertfeat.cli.readers``); Dask reads
it lazily in partitions (``bertfeat.dask``). Both follow these rules, so a file means
the same rows whichever reads it:

- ``.txt``: one text per line, split on ``"\n"`` only (a text may hold other Unicode
  line separators); a trailing ``"\r"`` is removed. A blank line is an empty text, a
  row like any other (the command line refuses it, naming the line, unless
  ``--drop-empty``); a newline at the end of the file does not start another row.
- ``.csv`` / ``.tsv``: a header row, then records; every cell is read as a string (no
  guessing of numbers, dates or "NA"), an empty field is ``""``. In ``.tsv`` quotes are
  ordinary characters (MRPC-style files hold bare quotes inside texts).
- ``.jsonl`` / ``.json``: one JSON object per line, blank lines skipped; values stay
  as JSON wrote them (strings stay strings, no date conversion).
- ``.parquet`` / ``.pq``: as stored.
"""

from __future__ import annotations

import csv
from pathlib import Path

KINDS = {
    ".txt": "txt",
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}

# pandas.read_csv / dask.dataframe.read_csv options, per kind.
CSV_OPTIONS = {
    "csv": {"keep_default_na": False, "dtype": object},
    "tsv": {"sep": "\t", "quoting": csv.QUOTE_NONE, "keep_default_na": False, "dtype": object, "encoding": "utf-8-sig"},
}
# pandas.read_json / dask.dataframe.read_json options (JSON lines).
JSON_OPTIONS = {"lines": True, "dtype": False, "convert_dates": False}


def kind_of(path) -> str | None:
    """``"txt"``, ``"csv"``, ``"tsv"``, ``"jsonl"``, ``"parquet"``, or None for an unknown suffix."""
    return KINDS.get(Path(path).suffix.lower())


def txt_line(line: str) -> str:
    """The text on one ``.txt`` line, its newline removed."""
    if line.endswith("\n"):
        line = line[:-1]
    if line.endswith("\r"):
        line = line[:-1]
    return line


def numbered_txt_lines(text: str) -> tuple[list[str], list[int]]:
    """Texts of a whole ``.txt`` file and the 1-based line number of each."""
    pieces = text.split("\n")
    if pieces and pieces[-1] == "":  # the file's final newline ends the last line
        pieces.pop()
    return [txt_line(piece) for piece in pieces], list(range(1, len(pieces) + 1))


def record_start_lines(path, kind: str) -> list[int]:
    """1-based file line where each data record of a ``.csv``/``.tsv`` file starts.

    Quoted fields may span lines, so this follows the csv grammar rather than counting
    newlines. Used only to name the line of a bad row.
    """
    options = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if kind == "tsv" else {}
    starts = []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, **options)
        next(reader, None)  # the header
        start = reader.line_num + 1
        for row in reader:
            if row:  # pandas skips blank lines too
                starts.append(start)
            start = reader.line_num + 1
    return starts
