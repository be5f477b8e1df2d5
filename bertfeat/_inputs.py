"""Validate and normalise ``X`` (texts or sentence pairs) and ``y``.

Every error names the first offending row, its type, and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

Text = str
Pair = tuple[str, str]


@dataclass(frozen=True)
class TextInput:
    """Normalised input: a list of texts, or a list of ``(a, b)`` pairs."""

    items: list  # list[str] | list[tuple[str, str]]
    is_pair: bool
    feature_names: np.ndarray | None  # column names when X was a DataFrame

    def __len__(self) -> int:
        return len(self.items)

    @property
    def n_features(self) -> int:
        return 2 if self.is_pair else 1


def _is_dataframe(X) -> bool:
    return hasattr(X, "columns") and hasattr(X, "iloc") and hasattr(X, "dtypes")


def _is_series(X) -> bool:
    return hasattr(X, "iloc") and hasattr(X, "dtype") and not hasattr(X, "columns")


def _describe(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, float) and value != value:
        return "NaN (float)"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _check_unicode(text: str, row: int, where: str) -> str:
    """Refuse lone surrogates: not valid Unicode, and tokenizers fail on them with no row named."""
    if text.isascii():  # O(1) in CPython: the common case costs nothing
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"X{where} row {row}: character {exc.start} is a lone surrogate {text[exc.start]!r}, which is "
            "not valid Unicode (often left by decoding bytes with errors='surrogateescape', or by "
            "a JSON '\\ud8xx' escape without its pair); repair it first, e.g. "
            "text.encode('utf-16', 'surrogatepass').decode('utf-16', 'replace')"
        ) from None
    return text


def _check_str(value: Any, row: int, where: str = "") -> str:
    if isinstance(value, str):
        return _check_unicode(value, row, where)
    if isinstance(value, np.str_):
        return _check_unicode(str(value), row, where)
    hint = ""
    if isinstance(value, (bytes, bytearray)):
        hint = " (decode bytes to str first, e.g. value.decode('utf-8'))"
    elif value is None or (isinstance(value, float) and value != value):
        hint = " (missing values are not texts: drop or fill them first)"
    raise TypeError(f"X{where} row {row}: expected a string, got {_describe(value)}{hint}")


def _rows_of_frame(X) -> tuple[list, np.ndarray | None, int]:
    columns = list(X.columns)
    names = None
    if all(isinstance(c, str) for c in columns):
        names = np.asarray(columns, dtype=object)
    rows = X.to_numpy(dtype=object)
    return rows, names, len(columns)


def check_texts(X, *, allow_pairs: bool = True, name: str = "X") -> TextInput:
    """Normalise ``X`` into texts or pairs.

    Accepted forms: a list/tuple/1-D array/Series of strings; a list of ``(a, b)``
    tuples, an ``(n, 2)`` array or a 2-column DataFrame for pairs; a 1-column
    DataFrame or ``(n, 1)`` array for texts. A single string is refused (it would be
    read as a sequence of characters).
    """
    if isinstance(X, (str, bytes)):
        raise TypeError(
            f"{name} must be a sequence of texts, got a single {type(X).__name__}; "
            f"wrap it in a list: [{X!r:.40}]"
        )
    if X is None:
        raise TypeError(f"{name} is None; expected a sequence of texts or pairs")
    feature_names = None
    if _is_dataframe(X):
        rows, feature_names, width = _rows_of_frame(X)
        return _from_2d(rows, width, feature_names, allow_pairs, name)
    if _is_series(X):
        X = X.to_numpy(dtype=object)
    if isinstance(X, np.ndarray):
        if X.ndim == 1:
            return TextInput([_check_str(v, i) for i, v in enumerate(X.tolist())], False, None)
        if X.ndim == 2:
            return _from_2d(X.astype(object), X.shape[1], None, allow_pairs, name)
        raise ValueError(f"{name} must be 1-D (texts) or 2-D with 1 or 2 columns; got shape {X.shape}")
    if isinstance(X, Mapping):  # iterating would silently encode the keys
        raise TypeError(
            f"{name} is a {type(X).__name__}; expected a sequence of texts or pairs "
            f"(for named columns pass a pandas DataFrame, e.g. pandas.DataFrame({name}))"
        )
    if isinstance(X, (set, frozenset)):
        raise TypeError(f"{name} is a {type(X).__name__}, whose order is arbitrary (rows would not match y); pass a list")
    if not isinstance(X, Sequence) and not hasattr(X, "__iter__"):
        raise TypeError(f"{name} must be a sequence of texts or pairs, got {type(X).__name__}")
    items = list(X)
    if not items:
        return TextInput([], False, None)
    first = items[0]
    if isinstance(first, (tuple, list, np.ndarray)) and not isinstance(first, str):
        return _from_2d(items, None, None, allow_pairs, name)
    return TextInput([_check_str(v, i) for i, v in enumerate(items)], False, None)


def _from_2d(rows, width, feature_names, allow_pairs: bool, name: str) -> TextInput:
    if width is None:  # a list of rows: all must have the same length
        width = len(rows[0]) if hasattr(rows[0], "__len__") else -1
    if width == 1:
        texts = []
        for i, row in enumerate(rows):
            if not isinstance(row, (tuple, list, np.ndarray)) or len(row) != 1:
                raise ValueError(f"{name} row {i}: expected 1 value like the rows before it, got {_describe(row)}")
            texts.append(_check_str(row[0], i))
        return TextInput(texts, False, feature_names)
    if width != 2:
        raise ValueError(
            f"{name} has {width} columns; expected 1 column (texts) or 2 columns (sentence pairs)"
        )
    if not allow_pairs:
        raise ValueError(f"{name} holds sentence pairs but this estimator takes single texts")
    pairs = []
    for i, row in enumerate(rows):
        if isinstance(row, str) or not isinstance(row, (tuple, list, np.ndarray)):
            raise TypeError(f"{name} row {i}: expected a pair (a, b) like row 0, got {_describe(row)}")
        if len(row) != 2:
            raise ValueError(f"{name} row {i}: expected a pair of 2 texts, got {len(row)} values")
        pairs.append((_check_str(row[0], i, "[:, 0]"), _check_str(row[1], i, "[:, 1]")))
    return TextInput(pairs, True, feature_names)


KINDS = {1: "single texts", 2: "sentence pairs"}


def check_input_form(inputs: TextInput, n_features_in: int, feature_names_in, who: str) -> None:
    """``X`` at transform/predict time has the form seen at fit: texts vs pairs, same columns."""
    if inputs.n_features != n_features_in:
        raise ValueError(f"this {who} was fitted on {KINDS[n_features_in]} but X holds {KINDS[inputs.n_features]}")
    if feature_names_in is not None and inputs.feature_names is not None:
        if list(feature_names_in) != list(inputs.feature_names):
            raise ValueError(
                f"X has columns {list(inputs.feature_names)} but the {who} was fitted with {list(feature_names_in)}"
            )


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    return type(value).__name__ in ("NAType", "NaTType")  # pandas.NA, pandas.NaT


def _numeric_or_none(values) -> np.ndarray | None:
    try:
        arr = np.asarray(values)
    except ValueError:  # ragged
        return None
    return arr if arr.dtype.kind in "biuf" else None


def check_target(items: TextInput, y, name: str = "y") -> None:
    """``y`` given to a transformer's ``fit`` (as a Pipeline does): one target per row of X,
    1-D or 2-D, nothing missing. Errors name the first offending row.

    The first step of a pipeline is where a bad ``y`` can still be named by row; left to
    the final estimator, a None label reads as 'Unknown label type' and a NaN among
    string labels silently becomes a class of its own.
    """
    if y is None:
        return
    if isinstance(y, (str, bytes, Mapping, set, frozenset)) or not hasattr(y, "__len__"):
        raise TypeError(f"{name} must hold one target per row of X (a list, array or Series); got {type(y).__name__}")
    values = y.to_numpy() if hasattr(y, "to_numpy") else y
    if len(values) != len(items):
        raise ValueError(f"X has {len(items)} rows but {name} has {len(values)}; they must match")
    arr = values if isinstance(values, np.ndarray) else _numeric_or_none(values)
    if arr is None:  # object dtype: np.asarray(["a", nan]) would turn NaN into the string "nan"
        arr = np.empty(len(values), dtype=object)
        arr[:] = list(values)
    if arr.ndim > 2:
        raise ValueError(f"{name} must be 1-D (one target per row) or 2-D (several per row); got shape {arr.shape}")
    if arr.dtype.kind == "f":
        bad = np.flatnonzero(np.isnan(arr).reshape(len(arr), -1).any(axis=1))
        if len(bad):
            raise ValueError(f"{name} row {bad[0]}: missing target (NaN); drop or fill it first")
    if arr.dtype != object:
        return

    def shape(width):
        return "one target" if width is None else f"{width} target{'s' if width != 1 else ''}"

    first = None
    for i, row in enumerate(arr):
        is_row = arr.ndim == 1 and isinstance(row, (list, tuple, np.ndarray))
        width = len(row) if is_row else None
        if i == 0:
            first = width
        elif width != first and arr.ndim == 1:
            raise ValueError(f"{name} row {i}: {shape(width)}, but row 0 has {shape(first)}")
        for value in row if (is_row or arr.ndim == 2) else [row]:
            if _is_missing(value):
                raise ValueError(f"{name} row {i}: missing target ({_describe(value)}); drop or fill it first")
            if isinstance(value, (list, tuple, dict, set, np.ndarray)):
                raise TypeError(f"{name} row {i}: expected a label or number, got {_describe(value)}")


def check_classification_y(y, n_rows: int) -> np.ndarray:
    """1-D labels (strings or integers), no missing values, same length as X."""
    if y is None:
        raise ValueError("y is required for a classifier; got None")
    arr = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y, dtype=object)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise ValueError(f"y must be 1-D (one label per row); got shape {arr.shape}")
    if len(arr) != n_rows:
        raise ValueError(f"X has {n_rows} rows but y has {len(arr)}; they must match")
    for i, value in enumerate(arr):
        if value is None or (isinstance(value, float) and value != value):
            raise ValueError(f"y row {i}: missing label ({_describe(value)})")
    kinds = {isinstance(v, (str, np.str_)) for v in arr}
    if len(kinds) > 1:
        row = next(i for i, v in enumerate(arr) if isinstance(v, (str, np.str_)) != isinstance(arr[0], (str, np.str_)))
        raise ValueError(f"y mixes strings and numbers (row 0 is {_describe(arr[0])}, row {row} is {_describe(arr[row])})")
    # Back to a native dtype so that classes_ are plain ints or strings.
    return np.asarray(arr.tolist())
