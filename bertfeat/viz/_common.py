"""What every picture shares: the result type, optional imports, label names, saving."""

from __future__ import annotations

import importlib
import io
import numbers
import warnings
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

INSTALL_HINT = 'pip install "bertfeat[viz]"'


class Plot(NamedTuple):
    """A figure and the data behind it; unpacks as ``fig, data = plot``."""

    figure: Any
    data: Any

    def save(self, path, dpi: int = 150) -> None:
        """Write the figure to ``path`` (format from the extension)."""
        save_figure(self.figure, path, dpi)

    def _repr_png_(self) -> bytes:  # notebook display
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()


# -- optional dependencies ------------------------------------------------------------


def require(module: str, what: str):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ImportWarning)  # umap: "Tensorflow not installed"
            return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"bertfeat.viz needs {what}, which is not installed: {INSTALL_HINT}") from exc


def new_figure(figsize):
    Figure = require("matplotlib.figure", "matplotlib").Figure
    return Figure(figsize=figsize, layout="constrained")


def save_figure(figure, path, dpi: int) -> None:
    if path is not None:
        figure.savefig(path, dpi=dpi, bbox_inches="tight")


def figure_and_ax(ax, figsize):
    if ax is not None:
        return ax.figure, ax
    figure = new_figure(figsize)
    return figure, figure.add_subplot()


# -- labels ---------------------------------------------------------------------------


def as_1d(values, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one label per row); got shape {array.shape}")
    return array


def classes_of(*arrays) -> list:
    """Sorted distinct labels over ``arrays``, as plain Python values."""
    try:
        return np.unique(np.concatenate([np.asarray(a) for a in arrays])).tolist()
    except TypeError as exc:
        raise TypeError(f"labels mix types that cannot be sorted together (e.g. int and str): {exc}") from exc


def is_index(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def display_names(classes: list, label_names) -> dict:
    """Display name of each class.

    ``label_names`` may be None (the labels themselves), a mapping ``{label: name}``
    (e.g. a config's ``id2label``), or a sequence: indexed by the label for integer
    labels ``0..k-1`` (``ClassLabel.names`` style), else one name per class in
    ``classes`` order.
    """
    if label_names is None:
        return {c: str(c) for c in classes}
    if isinstance(label_names, Mapping):
        return {c: str(label_names.get(c, c)) for c in classes}
    if isinstance(label_names, str):
        raise TypeError("label_names must be a sequence of names or a dict {label: name}, not a single string")
    names = [str(n) for n in label_names]
    if all(is_index(c) and 0 <= c < len(names) for c in classes):
        return {c: names[int(c)] for c in classes}
    if len(names) == len(classes):
        return dict(zip(classes, names))
    shown = classes if len(classes) <= 10 else classes[:10] + ["..."]
    raise ValueError(
        f"label_names has {len(names)} names for {len(classes)} classes {shown}: pass one name "
        "per class in that order, names indexed by integer labels, or a dict {label: name}"
    )


def named_values(values: np.ndarray, names: dict) -> list:
    return [names[v] for v in values.tolist()]


