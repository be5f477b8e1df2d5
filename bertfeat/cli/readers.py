"""Read labelled or unlabelled text tables for the command line.

Formats by file suffix, read by the rules of ``bertfeat._files`` (shared with Dask):
``.txt`` (one text per line), ``.csv``, ``.tsv``, ``.jsonl`` (or ``.json`` lines) and
``.parquet``. Columns are named by option or guessed from common names. Every problem
is a ``DataError`` whose message names the file line (the row for parquet).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bertfeat._files import CSV_OPTIONS, KINDS, kind_of, numbered_txt_lines, record_start_lines

TEXT_COLUMNS = ("text", "sentence", "review", "content", "tweet", "text_a", "sentence1", "#1 String", "title1_zh")
PAIR_COLUMNS = {"text_a": "text_b", "sentence1": "sentence2", "#1 String": "#2 String", "title1_zh": "title2_zh"}
LABEL_COLUMNS = ("label", "labels", "Quality", "target", "y", "class", "category")
FORMATS = tuple(KINDS)


class DataError(ValueError):
    """A data file that cannot be used as asked; the message says why."""


@dataclass
class Table:
    X: list  # texts, or (a, b) pairs
    y: np.ndarray | None
    text_column: str | None
    pair_column: str | None
    label_column: str | None
    frame: object  # the pandas DataFrame as read (rows dropped with drop_empty removed)
    dropped: int = 0  # empty texts dropped (drop_empty=True)
    label_names: dict = field(default_factory=dict)  # label -> display name (label_names_column)


def plain(value):
    """A numpy scalar as the Python value it holds, so messages read ``1``, not ``np.int64(1)``."""
    return value.item() if isinstance(value, np.generic) else value


def check_data_path(path) -> Path:
    """The input file, checked to exist and to have a readable format (no reading yet)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, expected a data file ({', '.join(FORMATS)})")
    if kind_of(path) is None:
        raise DataError(f"{path}: unknown format {path.suffix or '(no suffix)'}; expected one of {', '.join(FORMATS)}")
    return path


def _pandas():
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas comes with the io and viz extras
        raise ImportError('reading data files needs pandas: pip install "bertfeat[io]"') from exc
    return pd


def _read_jsonl(path: Path):
    """JSON lines parsed one by one, so that a bad line is named by its number."""
    records, lines = [], []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: line {number} is not valid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}: line {number} holds a JSON {type(record).__name__}, expected an object like {{\"text\": ...}}")
            records.append(record)
            lines.append(number)
    return _pandas().DataFrame.from_records(records), lines


def _read_frame(path: Path):
    """The file as a DataFrame, and the 1-based file line of each row (None: ask later)."""
    pd = _pandas()
    kind = kind_of(path)
    try:
        if kind == "txt":
            texts, lines = numbered_txt_lines(path.read_text(encoding="utf-8"))
            return pd.DataFrame({"text": texts}), lines
        if kind == "jsonl":
            return _read_jsonl(path)
        if kind in CSV_OPTIONS:
            return pd.read_csv(path, **CSV_OPTIONS[kind]), None
        return pd.read_parquet(path), None
    except DataError:
        raise
    except (ValueError, UnicodeDecodeError, OSError, ImportError) as exc:
        raise DataError(f"{path}: cannot read it as {kind}: {exc}") from exc


class _Where:
    """Names a row by its line in the file (its row number for parquet)."""

    def __init__(self, path: Path, lines):
        self.path, self._lines, self.kind = path, lines, kind_of(path)

    def __call__(self, row: int) -> str:
        if self._lines is None and self.kind in CSV_OPTIONS:
            self._lines = record_start_lines(self.path, self.kind)
        if self._lines is not None and row < len(self._lines):
            return f"line {self._lines[row]}"
        return f"row {row + 1}"


def _pick(frame, wanted: str | None, candidates, what: str, path: Path, required: bool) -> str | None:
    columns = [str(c) for c in frame.columns]
    if wanted is not None:
        if wanted not in columns:
            raise DataError(f"{path}: no {what} column {wanted!r}; columns are {columns}")
        return wanted
    for name in candidates:
        if name in columns:
            return name
    if required:
        raise DataError(f"{path}: cannot tell which column holds the {what}; columns are {columns}; name it with --{what}-column")
    return None


def _check_text_column(frame, column: str, path: Path, where: _Where) -> None:
    """Texts only, as the Python API demands: no numbers, no missing cells."""
    pd = _pandas()
    values = frame[column].tolist()
    for row, value in enumerate(values):
        if not isinstance(value, str):
            what = "nothing (a missing value)" if value is None or value != value else f"{plain(value)!r} ({type(plain(value)).__name__})"
            raise DataError(f"{path}: {where(row)}: column {column!r} holds {what}, not a text; "
                            "name the text column with --text-column")
    if values and pd.to_numeric(pd.Series(values), errors="coerce").notna().all():
        raise DataError(f"{path}: column {column!r} holds only numbers (e.g. {values[0]!r}), not texts; "
                        "name the text column with --text-column")


def _labels(series):
    """Labels as read; text cells that are all integers ("0", "1", ...) become integers."""
    pd = _pandas()
    values = series.to_numpy()
    if values.dtype == object and all(isinstance(v, str) for v in values):
        numbers = pd.to_numeric(series, errors="coerce")
        if numbers.notna().all() and (numbers % 1 == 0).all():
            return numbers.astype(np.int64).to_numpy()
    return values


def read_table(
    path,
    text_column: str | None = None,
    pair_column: str | None = None,
    label_column: str | None = None,
    need_labels: bool = False,
    drop_empty: bool = False,
    label_names_column: str | None = None,
    min_classes: int = 2,
) -> Table:
    """Texts (or pairs) and, when present or required, labels from a data file.

    Empty texts (nothing but whitespace) are refused, naming their line, unless
    ``drop_empty``, which drops their rows and counts them in ``Table.dropped``. With
    ``need_labels``, the labels must hold ``min_classes`` classes (2 to train; an
    evaluation set may hold one).
    """
    path = check_data_path(path)
    frame, lines = _read_frame(path)
    if len(frame) == 0:
        raise DataError(f"{path}: the data set is empty")
    frame = frame.reset_index(drop=True)
    where = _Where(path, lines)
    text = _pick(frame, text_column, TEXT_COLUMNS, "text", path, required=True)
    if pair_column is None and text_column is None:
        pair_column = PAIR_COLUMNS.get(text) if PAIR_COLUMNS.get(text) in frame.columns else None
    pair = _pick(frame, pair_column, (), "pair", path, required=False) if pair_column else None
    label = _pick(frame, label_column, LABEL_COLUMNS, "label", path, required=need_labels)
    names_column = _pick(frame, label_names_column, (), "label names", path, required=False) if label_names_column else None
    text_columns = [c for c in (text, pair) if c]
    for column in text_columns:
        _check_text_column(frame, column, path, where)

    empty = np.zeros(len(frame), dtype=bool)
    for column in text_columns:
        empty |= frame[column].str.strip().eq("").to_numpy()
    dropped = int(empty.sum())
    if dropped and not drop_empty:
        first = int(np.argmax(empty))
        more = f" (and {dropped - 1} more)" if dropped > 1 else ""
        raise DataError(f"{path}: {where(first)}: empty text{more}; drop such rows with --drop-empty, or fill them")
    if dropped:
        frame = frame[~empty].reset_index(drop=True)
        if len(frame) == 0:
            raise DataError(f"{path}: every text is empty")

    texts = frame[text].tolist()
    X = list(zip(texts, frame[pair].tolist())) if pair else texts
    y, label_names = None, {}
    if label is not None:
        cells = frame[label]
        missing = cells.isna().to_numpy() | cells.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy()
        if missing.any():
            row = int(np.flatnonzero(~empty)[np.argmax(missing)]) if dropped else int(np.argmax(missing))
            raise DataError(f"{path}: {where(row)}: label column {label!r} is empty")
        y = _labels(cells)
        classes = np.unique(y.astype(str))
        if need_labels and len(classes) < min_classes:
            raise DataError(f"{path}: label column {label!r} holds a single class ({plain(y[0])!r}); a classifier needs two or more")
        if names_column is not None:
            label_names = _label_names(y, frame[names_column].tolist(), names_column, path)
    return Table(X, y, text, pair, label, frame, dropped, label_names)


def _label_names(y, names: list, column: str, path: Path) -> dict:
    """label -> name, from a names column such as emotion's ``label_text`` (one name per label)."""
    found: dict = {}
    for label, name in zip(y.tolist(), names):
        if found.setdefault(label, str(name)) != str(name):
            raise DataError(f"{path}: column {column!r} gives label {label!r} two names ({found[label]!r}, {str(name)!r})")
    return found
