"""How a classifier does: the confusion matrix, per-example loss, the loss-ranked error table."""

from __future__ import annotations

import numpy as np

from bertfeat._inputs import check_texts
from bertfeat.viz._common import (
    Plot,
    as_1d,
    classes_of,
    display_names,
    figure_and_ax,
    is_index,
    named_values,
    require,
    save_figure,
)


_CM_TITLES = {
    "true": "Normalized confusion matrix (rows sum to 1)",
    "pred": "Confusion matrix normalized over predictions",
    "all": "Confusion matrix normalized over all samples",
    None: "Confusion matrix (counts)",
}


def confusion_matrix_plot(y_true, y_pred, labels=None, label_names=None, normalize: str | None = "true", *,
                          ax=None, cmap: str = "Blues", title: str | None = None, values_format: str | None = None,
                          path=None, dpi: int = 150) -> Plot:
    """Confusion matrix with label names on both axes and the values written in the cells.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
    labels : sequence, optional
        Classes to show and their order; by default every label seen, sorted.
    label_names : sequence or dict, optional
        Display names (see :func:`umap_panels`; a sequence follows ``labels`` order).
    normalize : {"true", "pred", "all"} or None, default="true"
        As in ``sklearn.metrics.confusion_matrix``: with "true", every row sums to 1.
    ax, cmap, title, values_format, path, dpi
        Axes to draw into; colour map; title (a default says what is normalised);
        cell format (".2f" normalised, "d" counts); file to save to; its resolution.

    Returns
    -------
    Plot
        ``figure`` and ``data``, a DataFrame: rows are the true labels, columns the
        predicted ones, both named with the display names.

    Examples
    --------
    >>> fig, cm = confusion_matrix_plot(y_valid, clf.predict(X_valid), label_names=names)  # doctest: +SKIP
    """
    pd = require("pandas", "pandas")
    require("matplotlib", "matplotlib")
    from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

    if normalize not in _CM_TITLES:
        raise ValueError(f"normalize must be 'true', 'pred', 'all' or None; got {normalize!r}")
    y_true, y_pred = as_1d(y_true, "y_true"), as_1d(y_pred, "y_pred")
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} rows but y_pred has {len(y_pred)}")
    classes = classes_of(y_true, y_pred) if labels is None else list(np.asarray(labels).tolist())
    names = display_names(classes, label_names)
    display = [names[c] for c in classes]
    matrix = confusion_matrix(y_true, y_pred, labels=classes, normalize=normalize)
    k = len(classes)
    side = max(4.5, 0.55 * k + 2.5)
    figure, ax = figure_and_ax(ax, (side + 1.0, side))
    fmt = values_format or (".2f" if normalize else "d")
    longest = max(len(n) for n in display)
    ConfusionMatrixDisplay(matrix, display_labels=display).plot(
        ax=ax, cmap=cmap, values_format=fmt, colorbar=False, include_values=k <= 30,
        im_kw={"vmin": 0, "vmax": 1} if normalize else None,
        text_kw={"fontsize": 9 if k <= 10 else 7},
    )
    figure.colorbar(ax.images[-1], ax=ax, shrink=0.8)
    if longest > 4 or k > 8:
        for tick in ax.get_xticklabels():
            tick.set_rotation(40)
            tick.set_horizontalalignment("right")
            tick.set_rotation_mode("anchor")
    ax.set_title(title if title is not None else _CM_TITLES[normalize])
    frame = pd.DataFrame(matrix, index=pd.Index(display, name="true"), columns=pd.Index(display, name="predicted"))
    save_figure(figure, path, dpi)
    return Plot(figure, frame)



def per_example_loss(estimator_or_proba, X=None, y=None, *, classes=None) -> np.ndarray:
    """Cross-entropy of every example: ``-log p(true label)``.

    Parameters
    ----------
    estimator_or_proba : fitted classifier or array-like of shape (n_samples, n_classes)
        A classifier with ``predict_proba`` and ``classes_`` (a Pipeline works), or its
        probabilities already computed (a 1-D array is read as P(second class)).
    X : texts or features, optional
        Passed to ``predict_proba``; only with an estimator.
    y : array-like of shape (n_samples,)
        True labels, ints or strings, as in ``classes_``.
    classes : sequence, optional
        Class of each probability column; default ``estimator.classes_``, or
        ``0..n_classes-1`` for bare probabilities.

    Returns
    -------
    loss : ndarray of shape (n_samples,)
        Probabilities are clipped to ``[eps, 1 - eps]`` as in
        ``sklearn.metrics.log_loss``, whose value is the mean of this array.

    Examples
    --------
    >>> loss = per_example_loss(clf, X_valid, y_valid)           # doctest: +SKIP
    >>> loss = per_example_loss(proba, y=y_valid, classes=clf.classes_)  # doctest: +SKIP
    """
    if hasattr(estimator_or_proba, "predict_proba"):
        if X is None or y is None:
            raise TypeError("with an estimator, pass X and y: per_example_loss(clf, X, y)")
        proba = estimator_or_proba.predict_proba(X)
        if classes is None:
            classes = getattr(estimator_or_proba, "classes_", None)
    else:
        if y is None:
            raise TypeError("with probabilities, pass the labels as y=: per_example_loss(proba, y=y, classes=...)")
        if X is not None:
            raise TypeError("X is only used with an estimator; with probabilities call per_example_loss(proba, y=y)")
        proba = estimator_or_proba
    proba = np.asarray(proba)
    proba = proba.astype(proba.dtype if proba.dtype in (np.float32, np.float64) else np.float64)
    if proba.ndim == 1:
        proba = np.column_stack([1 - proba, proba])
    if proba.ndim != 2:
        raise ValueError(f"probabilities must have shape (n_samples, n_classes); got {proba.shape}")
    if proba.size and (proba.min() < 0 or proba.max() > 1):
        raise ValueError(
            f"probabilities must lie in [0, 1]; got values from {proba.min():.3g} to {proba.max():.3g} "
            "(scores or logits? use predict_proba, or apply a softmax first)"
        )
    y = as_1d(y, "y")
    if len(y) != len(proba):
        raise ValueError(f"y has {len(y)} rows but the probabilities have {len(proba)}")
    classes = list(range(proba.shape[1])) if classes is None else np.asarray(classes).tolist()
    if len(classes) != proba.shape[1]:
        raise ValueError(f"{len(classes)} classes for {proba.shape[1]} probability columns")
    column = {c: i for i, c in enumerate(classes)}
    index = np.empty(len(y), dtype=np.intp)
    for row, label in enumerate(y.tolist()):
        if label not in column:
            raise ValueError(f"y row {row}: label {label!r} is not one of the classes {classes}")
        index[row] = column[label]
    eps = np.finfo(proba.dtype).eps
    picked = np.clip(proba[np.arange(len(y)), index], eps, 1 - eps)
    return -np.log(picked).astype(np.float64)


def error_table(texts, y_true, y_pred, loss, label_names=None, n: int = 10, which: str = "both"):
    """The examples the model finds hardest and easiest, ranked by loss.

    High-loss rows are where the model is confidently wrong: often mislabelled data or
    genuinely ambiguous texts. Low-loss rows show what it finds easy (and shortcuts).

    Parameters
    ----------
    texts : sequence of str (or pairs), length n_samples
    y_true, y_pred : array-like of shape (n_samples,)
    loss : array-like of shape (n_samples,)
        E.g. from :func:`per_example_loss`.
    label_names : sequence or dict, optional
        Display names (see :func:`umap_panels`).
    n : int, default=10
        Rows per group.
    which : {"both", "highest", "lowest"}, default="both"

    Returns
    -------
    DataFrame
        Columns ``text``, ``label``, ``predicted``, ``loss``, ``group`` ("highest" or
        "lowest"), sorted by decreasing loss; the index is the row in the input.

    Examples
    --------
    >>> error_table(texts, y, clf.predict(X), per_example_loss(clf, X, y), n=5)  # doctest: +SKIP
    """
    pd = require("pandas", "pandas")
    if which not in ("both", "highest", "lowest"):
        raise ValueError(f"which must be 'both', 'highest' or 'lowest'; got {which!r}")
    if not is_index(n) or n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}")
    if hasattr(texts, "columns"):  # a DataFrame: texts or pairs, normalised as everywhere else
        texts = check_texts(texts).items
    texts = list(texts)
    y_true, y_pred = as_1d(y_true, "y_true"), as_1d(y_pred, "y_pred")
    loss = np.asarray(loss, dtype=np.float64).ravel()
    for name, values in (("y_true", y_true), ("y_pred", y_pred), ("loss", loss)):
        if len(values) != len(texts):
            raise ValueError(f"texts has {len(texts)} rows but {name} has {len(values)}")
    names = display_names(classes_of(y_true, y_pred), label_names)
    frame = pd.DataFrame(
        {"text": texts, "label": named_values(y_true, names), "predicted": named_values(y_pred, names), "loss": loss},
        index=pd.RangeIndex(len(texts), name="row"),
    )
    ranked = frame.sort_values("loss", ascending=False, kind="stable")
    parts = []
    if which in ("both", "highest"):
        parts.append(ranked.head(n).assign(group="highest"))
    if which in ("both", "lowest"):
        rest = ranked.iloc[len(parts[0]):] if parts else ranked
        parts.append(rest.tail(n).assign(group="lowest"))
    return pd.concat(parts)


