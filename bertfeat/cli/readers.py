"""Read labelled or unlabelled text tables for the command line.

Formats by file suffix: ``.txt`` (one text per line), ``.csv``, ``.tsv``, ``.jsonl``
(or ``.json`` lines) and ``.parquet``. Columns are named by option or guessed from
common names; every problem is a ``DataError`` with a message for people.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TEXT_COLUMNS = ("text", "sentence", "review", "content", "tweet", "text_a", "sentence1", "#1 String", "title1_zh")
PAIR_COLUMNS = {"text_a": "text_b", "sentence1": "sentence2", "#1 String": "#2 String", "title1_zh": "title2_zh"}
LABEL_COLUMNS = ("label", "labels", "Quality", "target", "y", "class", "category")
FORMATS = (".txt", ".csv", ".tsv", ".jsonl", ".json", ".parquet")


class DataError(ValueError):
    """A data file that cannot be used as asked; the message says why."""


@dataclass
class Table:
    X: list  # texts, or (a, b) pairs
    y: np.ndarray | None
    text_column: str | None
    pair_column: str | None
    label_column: str | None
    frame: object  # the pandas DataFrame as read


def _read_frame(path: Path):
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas comes with the io extra
        raise ImportError('reading data files needs pandas: pip install "bertfeat[io]"') from exc
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, expected a data file ({', '.join(FORMATS)})")
    suffix = path.suffix.lower()
    try:
        if suffix == ".txt":
            lines = path.read_text(encoding="utf-8").splitlines()
            return pd.DataFrame({"text": [line for line in lines if line.strip()]})
        if suffix == ".csv":
            return pd.read_csv(path, keep_default_na=False, na_values=[""])
        if suffix == ".tsv":
            # Tab-separated sets (MRPC) hold bare quotes inside texts: quotes are not syntax.
            return pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, keep_default_na=False, na_values=[""], encoding="utf-8-sig")
        if suffix in (".jsonl", ".json"):
            return pd.read_json(path, lines=True)
        if suffix == ".parquet":
            return pd.read_parquet(path)
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"{path}: cannot read it as {suffix[1:]}: {exc}") from exc
    raise DataError(f"{path}: unknown format {suffix or '(no suffix)'}; expected one of {', '.join(FORMATS)}")


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


def read_table(
    path,
    text_column: str | None = None,
    pair_column: str | None = None,
    label_column: str | None = None,
    need_labels: bool = False,
) -> Table:
    """Texts (or pairs) and, when present or required, labels from a data file."""
    path = Path(path)
    frame = _read_frame(path)
    if len(frame) == 0:
        raise DataError(f"{path}: the data set is empty")
    text = _pick(frame, text_column, TEXT_COLUMNS, "text", path, required=True)
    if pair_column is None and text_column is None:
        pair_column = PAIR_COLUMNS.get(text) if PAIR_COLUMNS.get(text) in frame.columns else None
    pair = _pick(frame, pair_column, (), "pair", path, required=False) if pair_column else None
    label = _pick(frame, label_column, LABEL_COLUMNS, "label", path, required=need_labels)
    frame = frame.reset_index(drop=True)
    for column in filter(None, (text, pair)):
        missing = frame[column].isna().to_numpy()
        if missing.any():
            raise DataError(f"{path}: column {column!r} has no text at row {int(np.argmax(missing))} (of the data rows)")
    texts = frame[text].astype(str).tolist()
    X = list(zip(texts, frame[pair].astype(str).tolist())) if pair else texts
    y = None
    if label is not None:
        missing = frame[label].isna().to_numpy()
        if missing.any():
            raise DataError(f"{path}: label column {label!r} is empty at row {int(np.argmax(missing))}")
        y = frame[label].to_numpy()
        if need_labels and len(np.unique(y.astype(str))) < 2:
            raise DataError(f"{path}: label column {label!r} holds a single class ({y[0]!r}); a classifier needs two or more")
    return Table(X, y, text, pair, label, frame)
