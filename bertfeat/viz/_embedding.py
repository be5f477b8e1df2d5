"""UMAP layouts of feature vectors: per-label hexbin panels and a labelled scatter."""

from __future__ import annotations

import math

import numpy as np

from bertfeat.viz._common import (
    Plot,
    as_1d,
    classes_of,
    display_names,
    figure_and_ax,
    named_values,
    new_figure,
    require,
    save_figure,
)

_MIN_UMAP_ROWS = 4


def _check_features(features) -> np.ndarray:
    X = np.asarray(features, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"features must be a 2-D array (n_samples, n_features); got shape {X.shape}")
    if X.shape[0] < _MIN_UMAP_ROWS:
        raise ValueError(f"UMAP needs at least {_MIN_UMAP_ROWS} rows; got {X.shape[0]}")
    bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
    if bad.size:
        raise ValueError(f"features row {bad[0]} contains NaN or infinity")
    return X


def umap_embed(features, *, n_neighbors: int = 15, min_dist: float = 0.1, metric: str = "cosine",
               scale: bool = True, random_state: int | None = 0) -> np.ndarray:
    """Project ``features`` to 2-D with UMAP (after a ``MinMaxScaler``, as in the tutorials).

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
        E.g. the output of ``BertVectorizer().fit_transform(texts)``.
    n_neighbors, min_dist, metric
        Passed to ``umap.UMAP``; ``n_neighbors`` is capped at ``n_samples - 1``.
    scale : bool, default=True
        Rescale every feature to [0, 1] first.
    random_state : int or None, default=0
        Seed for a reproducible layout (single-threaded); None runs in parallel.

    Returns
    -------
    embedding : ndarray of shape (n_samples, 2)
        Reusable through the ``embedding=`` argument of :func:`umap_panels` and
        :func:`umap_scatter`.

    Examples
    --------
    >>> coords = umap_embed(X)                        # doctest: +SKIP
    >>> umap_panels(None, y, embedding=coords)        # doctest: +SKIP
    """
    X = _check_features(features)
    umap = require("umap", "umap-learn")
    if scale:
        from sklearn.preprocessing import MinMaxScaler

        X = MinMaxScaler().fit_transform(X)
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=max(2, min(int(n_neighbors), X.shape[0] - 1)),
        min_dist=min_dist,
        metric=metric,
        random_state=random_state,
        n_jobs=1 if random_state is not None else -1,
    )
    return np.asarray(reducer.fit_transform(X), dtype=np.float64)


def _embedding_frame(features, labels, label_names, embedding, umap_kwargs):
    pd = require("pandas", "pandas")
    labels = as_1d(labels, "labels")
    if embedding is None:
        if features is None:
            raise ValueError("pass features, or precomputed 2-D coordinates as embedding=")
        coords = umap_embed(features, **umap_kwargs)
    else:
        coords = np.asarray(embedding, dtype=np.float64)
        if coords.ndim != 2 or coords.shape[1] != 2:
            raise ValueError(f"embedding must have shape (n_samples, 2); got {coords.shape}")
    if len(labels) != len(coords):
        raise ValueError(f"labels has {len(labels)} rows but the features/embedding have {len(coords)}")
    classes = classes_of(labels)
    names = display_names(classes, label_names)
    frame = pd.DataFrame({"x": coords[:, 0], "y": coords[:, 1], "label": labels})
    frame["label_name"] = named_values(labels, names)
    return frame, classes, names


def _colours(n: int) -> list:
    from matplotlib import colormaps

    # Saturated qualitative colours only (tab20's pale halves vanish in the hexbin ramps).
    palette = [colormaps[name](i) for name, k in (("tab10", 10), ("Dark2", 8), ("Set1", 9)) for i in range(k)]
    if n <= len(palette):
        return palette[:n]
    return [colormaps["turbo"](x) for x in np.linspace(0.05, 0.95, n)]


def _ramp(colour, name: str):
    """Sequential colour map from a pale tint of ``colour`` to a dark shade of it."""
    from matplotlib.colors import LinearSegmentedColormap, to_rgb

    rgb = np.asarray(to_rgb(colour))
    return LinearSegmentedColormap.from_list(name, [0.45 * rgb + 0.55, rgb, 0.55 * rgb])


def _extent(frame) -> tuple:
    x0, x1, y0, y1 = frame["x"].min(), frame["x"].max(), frame["y"].min(), frame["y"].max()
    px, py = 0.05 * (x1 - x0 or 1.0), 0.05 * (y1 - y0 or 1.0)
    return (x0 - px, x1 + px, y0 - py, y1 + py)


def umap_panels(features, labels, label_names=None, *, embedding=None, ncols: int | None = None,
                gridsize: int | None = None, cmaps=None, background: bool = True, panel_size: float = 2.6,
                title: str | None = None, path=None, dpi: int = 150, **umap_kwargs) -> Plot:
    """One hexbin panel per label on a shared UMAP layout (the emotion-tutorial picture).

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features) or None
        Features to project with :func:`umap_embed`; None when ``embedding`` is given.
    labels : array-like of shape (n_samples,)
        Integer or string labels.
    label_names : sequence or dict, optional
        Panel titles: ``names[label]`` for integer labels ``0..k-1``, one name per
        class in sorted order otherwise, or a dict ``{label: name}`` (``id2label``).
    embedding : array-like of shape (n_samples, 2), optional
        Precomputed coordinates (from :func:`umap_embed` or ``plot.data[["x", "y"]]``).
    ncols : int, optional
        Panels per row; by default a near-square grid.
    gridsize : int, optional
        Hexagons across each panel; by default from the number of points (10 to 30;
        the tutorial's 20 suits a few thousand points).
    cmaps : sequence of colour map names, optional
        One per class; by default ramps of the :func:`umap_scatter` colours.
    background : bool, default=True
        Draw all points faintly in grey under each panel, for orientation.
    panel_size : float, default=2.6
        Width and height of each panel in inches.
    title, path, dpi
        Figure title; file to save to; its resolution.
    **umap_kwargs
        ``n_neighbors``, ``min_dist``, ``metric``, ``scale``, ``random_state`` for
        :func:`umap_embed`.

    Returns
    -------
    Plot
        ``figure`` with one axes per class, titled with its name; ``data``, a DataFrame
        with columns ``x``, ``y``, ``label``, ``label_name``, one row per sample.

    Examples
    --------
    >>> from bertfeat.viz import umap_panels                       # doctest: +SKIP
    >>> fig, coords = umap_panels(X_train, y_train, label_names=names, path="umap.png")  # doctest: +SKIP
    """
    frame, classes, names = _embedding_frame(features, labels, label_names, embedding, umap_kwargs)
    k = len(classes)
    if cmaps is not None and len(cmaps) < k:
        raise ValueError(f"cmaps has {len(cmaps)} colour maps for {k} classes")
    ncols = int(ncols) if ncols else (k if k <= 3 else math.ceil(math.sqrt(k)))
    nrows = math.ceil(k / ncols)
    figure = new_figure((panel_size * ncols, panel_size * nrows + (0.4 if title else 0)))
    axes = figure.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True).ravel()
    for ax in axes[k:]:
        figure.delaxes(ax)
    extent = _extent(frame)
    gridsize = int(gridsize) if gridsize else int(np.clip(round(math.sqrt(len(frame))), 10, 30))
    colours = _colours(k)
    label_values = frame["label"].to_numpy()
    for i, (ax, cls) in enumerate(zip(axes, classes)):
        cmap = cmaps[i] if cmaps is not None else _ramp(colours[i], f"label{i}")
        if background:
            ax.scatter(frame["x"], frame["y"], s=1.5, color="0.88", linewidths=0, rasterized=True)
        sub = frame[label_values == cls]
        ax.hexbin(sub["x"], sub["y"], gridsize=gridsize, cmap=cmap, extent=extent, mincnt=1, linewidths=0.2,
                  edgecolors="face")
        ax.set_title(names[cls], fontsize=10)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        figure.suptitle(title)
    save_figure(figure, path, dpi)
    return Plot(figure, frame)


def umap_scatter(features, labels, label_names=None, *, embedding=None, ax=None, size: float | None = None,
                 alpha: float = 0.8, title: str | None = "UMAP of the features", figsize=(6.5, 5),
                 path=None, dpi: int = 150, **umap_kwargs) -> Plot:
    """One scatter of the UMAP layout, coloured by label, with a legend.

    Parameters are those of :func:`umap_panels`, plus ``ax`` (draw into an existing
    axes), ``size`` (marker area; by default from the number of points), ``alpha`` and
    ``figsize``. The colours match the panels of :func:`umap_panels`.

    Returns
    -------
    Plot
        ``figure`` and ``data`` (DataFrame ``x``, ``y``, ``label``, ``label_name``).

    Examples
    --------
    >>> plot = umap_scatter(X, y, label_names=["neg", "pos"])     # doctest: +SKIP
    >>> plot.figure.savefig("scatter.png")                         # doctest: +SKIP
    """
    frame, classes, names = _embedding_frame(features, labels, label_names, embedding, umap_kwargs)
    figure, ax = figure_and_ax(ax, figsize)
    size = float(size) if size else float(np.clip(3000.0 / len(frame), 4, 40))
    label_values = frame["label"].to_numpy()
    for colour, cls in zip(_colours(len(classes)), classes):
        sub = frame[label_values == cls]
        ax.scatter(sub["x"], sub["y"], s=size, color=colour, alpha=alpha, linewidths=0, label=names[cls])
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    ax.legend(title="label", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
              markerscale=max(1.0, 6.0 / math.sqrt(size)))
    if title:
        ax.set_title(title)
    save_figure(figure, path, dpi)
    return Plot(figure, frame)


