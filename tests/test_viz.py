"""bertfeat.viz (pictures + the data behind them, error tables) and the demo data set."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys

import numpy as np
import pytest

from bertfeat import viz
from bertfeat.datasets import DEMO_LABELS, load_demo

NAMES = ["sadness", "joy", "love"]


@pytest.fixture(scope="module")
def mpl():
    return pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def pd():
    return pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def blobs():
    """60 points in 8-D around three centres, integer labels 0..2."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    X = rng.normal(size=(3, 8))[y] + 0.3 * rng.normal(size=(60, 8))
    return X, y


def umap_reference(X, scale=True, **params):
    """A layout made by umap-learn directly: the documented recipe (MinMaxScaler, then
    umap.UMAP with the documented defaults and a fixed seed), without bertfeat."""
    umap = pytest.importorskip("umap")
    from sklearn.preprocessing import MinMaxScaler

    settings = dict(n_components=2, n_neighbors=15, min_dist=0.1, metric="cosine", random_state=0, n_jobs=1)
    data = MinMaxScaler().fit_transform(X) if scale else X
    return umap.UMAP(**{**settings, **params}).fit_transform(data)


@pytest.fixture(scope="module")
def coords(blobs):
    return umap_reference(blobs[0])


# -- light import, missing extras -------------------------------------------------------


def test_import_is_light():
    code = (
        "import sys, bertfeat.viz; "
        "print(sorted(m for m in ('matplotlib', 'umap', 'torch', 'transformers', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_extra_names_the_pip_line(monkeypatch, blobs):
    monkeypatch.setitem(sys.modules, "umap", None)
    with pytest.raises(ImportError, match=re.escape('pip install "bertfeat[viz]"')):
        viz.umap_embed(blobs[0])
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=re.escape('pip install "bertfeat[viz]"')):
        viz.umap_panels(None, blobs[1], embedding=blobs[0][:, :2])


# -- UMAP -------------------------------------------------------------------------------


def test_umap_embed_is_umap_learns_layout(blobs, coords):
    out = viz.umap_embed(blobs[0], random_state=0)
    assert out.shape == (60, 2) and out.dtype == np.float64
    np.testing.assert_allclose(out, coords, rtol=1e-5, atol=1e-5)


def test_umap_embed_passes_its_parameters_to_umap(blobs):
    X = blobs[0]
    out = viz.umap_embed(X, n_neighbors=5, min_dist=0.5, metric="euclidean", scale=False, random_state=3)
    reference = umap_reference(X, scale=False, n_neighbors=5, min_dist=0.5, metric="euclidean", random_state=3)
    np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-5)
    # n_neighbors above the row count is capped at n_samples - 1, as umap needs.
    np.testing.assert_allclose(viz.umap_embed(X[:12], n_neighbors=50), umap_reference(X[:12], n_neighbors=11), rtol=1e-5, atol=1e-5)


def test_umap_embed_refuses_bad_input():
    pytest.importorskip("umap")
    with pytest.raises(ValueError, match="2-D"):
        viz.umap_embed(np.zeros(10))
    with pytest.raises(ValueError, match="at least"):
        viz.umap_embed(np.ones((3, 4)))
    bad = np.ones((10, 4))
    bad[7, 2] = np.nan
    with pytest.raises(ValueError, match="row 7"):
        viz.umap_embed(bad)


def test_umap_panels_from_features(mpl, pd, blobs, coords):
    X, y = blobs
    fig, data = viz.umap_panels(X, y, NAMES, random_state=0)
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == NAMES
    assert list(data.columns) == ["x", "y", "label", "label_name"]
    assert data.shape == (60, 4)
    np.testing.assert_allclose(data[["x", "y"]].to_numpy(), coords, rtol=1e-5, atol=1e-5)  # umap-learn's layout
    assert data["label_name"].tolist() == [NAMES[i] for i in y]


def test_umap_panels_grid_drops_empty_cells(mpl, pd, coords, tmp_path):
    y = np.arange(60) % 5
    names = ["sadness", "joy", "love", "anger", "fear"]
    plot = viz.umap_panels(None, y, names, embedding=coords, title="Five labels", path=tmp_path / "panels.png")
    assert len(plot.figure.axes) == 5  # a 3 x 2 grid with the sixth cell removed
    assert [ax.get_title() for ax in plot.figure.axes] == names
    assert [t.get_text() for t in plot.figure.texts] == ["Five labels"]  # the suptitle (get_suptitle: matplotlib 3.8)
    assert (tmp_path / "panels.png").stat().st_size > 1000
    figure, data = plot  # the result unpacks
    assert figure is plot.figure and data is plot.data


def test_umap_panels_string_labels_and_dict_names(mpl, pd, coords):
    y = np.array(["pos", "neg", "neu"] * 20)
    fig, data = viz.umap_panels(None, y, {"pos": "positive", "neg": "negative"}, embedding=coords)
    assert [ax.get_title() for ax in fig.axes] == ["negative", "neu", "positive"]  # sorted labels
    assert set(data["label"]) == {"pos", "neg", "neu"}


def test_umap_panels_checks_lengths_and_names(mpl, pd, coords):
    with pytest.raises(ValueError, match="labels has 59 rows"):
        viz.umap_panels(None, np.zeros(59, dtype=int), embedding=coords)
    with pytest.raises(ValueError, match="shape"):
        viz.umap_panels(None, np.zeros(60, dtype=int), embedding=np.zeros((60, 3)))
    with pytest.raises(ValueError, match="2 names for 3 classes"):
        viz.umap_panels(None, np.array(["a", "b", "c"] * 20), ["x", "y"], embedding=coords)


def test_umap_scatter(mpl, pd, blobs, coords):
    fig, data = viz.umap_scatter(None, blobs[1], NAMES, embedding=coords)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == NAMES
    assert ax.get_title()
    assert len(ax.collections) == 3  # one scatter per label
    assert sum(len(c.get_offsets()) for c in ax.collections) == 60
    assert data.shape == (60, 4)


def test_picture_into_given_axes(mpl, pd, blobs, coords):
    from matplotlib.figure import Figure

    fig = Figure()
    left, right = fig.subplots(1, 2)
    plot = viz.umap_scatter(None, blobs[1], embedding=coords, ax=right)
    assert plot.figure is fig and right.get_title() and not left.collections
    assert plot._repr_png_().startswith(b"\x89PNG")


# -- confusion matrix -------------------------------------------------------------------


def test_confusion_matrix_plot_normalized(mpl, pd):
    from sklearn.metrics import confusion_matrix

    rng = np.random.default_rng(1)
    y_true = rng.choice(["bill", "ship", "tech"], 90)
    y_pred = np.where(rng.random(90) < 0.7, y_true, rng.choice(["bill", "ship", "tech"], 90))
    names = {"bill": "billing", "ship": "shipping", "tech": "technical_issue"}
    fig, cm = viz.confusion_matrix_plot(y_true, y_pred, label_names=names)
    ax = fig.axes[0]
    shown = list(names.values())
    assert [t.get_text() for t in ax.get_xticklabels()] == shown
    assert [t.get_text() for t in ax.get_yticklabels()] == shown
    assert ax.get_title()
    assert list(cm.index) == shown and list(cm.columns) == shown
    np.testing.assert_allclose(cm.sum(axis=1), 1.0)
    np.testing.assert_allclose(cm.to_numpy(), confusion_matrix(y_true, y_pred, normalize="true"))
    assert ax.texts and all(re.fullmatch(r"\d\.\d\d", t.get_text()) for t in ax.texts)


def test_confusion_matrix_plot_counts_and_order(mpl, pd):
    y_true = [2, 0, 1, 1, 2, 2]
    y_pred = [2, 0, 2, 1, 0, 2]
    fig, cm = viz.confusion_matrix_plot(y_true, y_pred, labels=[2, 1, 0], label_names=["zero", "one", "two"],
                                        normalize=None)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["two", "one", "zero"]
    assert cm.loc["two", "two"] == 2 and cm.loc["two", "zero"] == 1 and int(cm.to_numpy().sum()) == 6
    with pytest.raises(ValueError, match="normalize"):
        viz.confusion_matrix_plot(y_true, y_pred, normalize="rows")


# -- error analysis ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(2)
    y = rng.choice(["spam", "ham", "eggs"], 80)
    X = rng.normal(size=(80, 5)) + (y == "spam")[:, None] * 1.5 - (y == "eggs")[:, None]
    return LogisticRegression().fit(X, y), X, y


def test_per_example_loss_matches_log_loss_row_by_row(fitted):
    from sklearn.metrics import log_loss

    clf, X, y = fitted
    loss = viz.per_example_loss(clf, X, y)
    proba = clf.predict_proba(X)
    expected = [log_loss([y[i]], proba[i : i + 1], labels=clf.classes_) for i in range(len(y))]
    assert loss.shape == (80,)
    np.testing.assert_allclose(loss, expected, rtol=1e-12)
    assert loss.mean() == pytest.approx(log_loss(y, proba, labels=clf.classes_))


def test_per_example_loss_follows_the_column_order(fitted):
    clf, X, y = fitted
    proba = clf.predict_proba(X)
    order = [2, 0, 1]
    permuted = viz.per_example_loss(proba[:, order], y=y, classes=clf.classes_[order])
    np.testing.assert_allclose(permuted, viz.per_example_loss(clf, X, y))
    codes = np.searchsorted(clf.classes_, y)  # integer labels 0..k-1 need no classes=
    np.testing.assert_allclose(viz.per_example_loss(proba, y=codes), permuted)


def test_per_example_loss_errors(fitted):
    clf, X, y = fitted
    bad = y.astype(object)
    bad[5] = "toast"
    with pytest.raises(ValueError, match="row 5.*'toast'"):
        viz.per_example_loss(clf, X, bad)
    with pytest.raises(TypeError, match="y="):
        viz.per_example_loss(clf.predict_proba(X), y)
    with pytest.raises(ValueError, match="logits"):
        viz.per_example_loss(clf.decision_function(X), y=y, classes=clf.classes_)
    with pytest.raises(ValueError, match="2 classes for 3"):
        viz.per_example_loss(clf.predict_proba(X), y=y, classes=["spam", "ham"])


def test_error_table(pd, fitted):
    clf, X, y = fitted
    texts = [f"text {i}" for i in range(len(y))]
    loss = viz.per_example_loss(clf, X, y)
    table = viz.error_table(texts, y, clf.predict(X), loss, label_names={"spam": "SPAM"}, n=5)
    assert list(table.columns) == ["text", "label", "predicted", "loss", "group"]
    assert len(table) == 10 and table["loss"].is_monotonic_decreasing
    assert table["group"].tolist() == ["highest"] * 5 + ["lowest"] * 5
    order = np.argsort(-loss, kind="stable")
    assert list(table.index[:5]) == list(order[:5]) and list(table.index[5:]) == list(order[-5:])
    assert table.loc[order[0], "text"] == texts[order[0]]
    assert "SPAM" in set(table["label"]) | set(table["predicted"]) and "spam" not in set(table["label"])
    assert len(viz.error_table(texts[:6], y[:6], y[:6], loss[:6], n=5)) == 6  # no row twice
    assert viz.error_table(texts, y, y, loss, n=3, which="lowest")["group"].tolist() == ["lowest"] * 3
    with pytest.raises(ValueError, match="loss has 79"):
        viz.error_table(texts, y, y, loss[:-1])


# -- attention --------------------------------------------------------------------------


def _tokens(folder, text, pair=None):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    return tokenizer.convert_ids_to_tokens(tokenizer(text, pair)["input_ids"])


def _reference_attention(folder, text, pair=None) -> np.ndarray:
    """Every layer's attention, (layers, heads, tokens, tokens), from a direct transformers
    forward pass with eager attention and ``output_attentions=True``."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()
    with torch.no_grad():
        outputs = model(**tokenizer(text, pair, return_tensors="pt"), output_attentions=True)
    return np.stack([layer[0].numpy() for layer in outputs.attentions])


def test_attention_heatmap_single_text(mpl, tiny_bert):
    text = "The parcel never arrived."
    fig, att = viz.attention_heatmap(tiny_bert, text, layer=-1, head=1)
    n = len(att.tokens)
    assert att.tokens == _tokens(tiny_bert, text)
    assert att.attention.shape == (n, n) and att.layer == 1 and att.head == 1
    reference = _reference_attention(tiny_bert, text)
    # The layers and heads of the random model differ enough to tell them apart.
    assert np.abs(reference[1, 1] - reference[1, 0]).max() > 1e-3 < np.abs(reference[1, 1] - reference[0, 1]).max()
    np.testing.assert_allclose(att.attention, reference[1, 1], rtol=1e-5, atol=1e-6)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == att.tokens
    assert [t.get_text() for t in ax.get_yticklabels()] == att.tokens
    assert "layer 1" in ax.get_title() and "head 1" in ax.get_title()


def test_attention_heatmap_pair(mpl, tiny_bert, tmp_path):
    a, b = "Where is my order?", "It shipped on Monday."
    fig, att = viz.attention_heatmap(tiny_bert, a, b, layer=0, head="mean", path=tmp_path / "att.png")
    assert att.tokens == _tokens(tiny_bert, a, b)
    assert att.tokens.count("[SEP]") == 2
    reference = _reference_attention(tiny_bert, a, b)
    np.testing.assert_allclose(att.attention, reference[0].mean(axis=0), rtol=1e-5, atol=1e-6)
    assert np.abs(reference[0].mean(axis=0) - reference[1].mean(axis=0)).max() > 1e-3  # layer 0, not 1
    assert att.sequence_ids[att.tokens.index("[SEP]") + 1] == 1  # second segment starts after the first [SEP]
    assert (tmp_path / "att.png").stat().st_size > 1000


def test_attention_heatmap_checks_layer_and_head(mpl, tiny_bert):
    with pytest.raises(ValueError, match="layer"):
        viz.attention_heatmap(tiny_bert, "hello", layer=2)
    with pytest.raises(ValueError, match="head"):
        viz.attention_heatmap(tiny_bert, "hello", head=-3)
    with pytest.raises(TypeError, match="text_pair"):
        viz.attention_heatmap(tiny_bert, "hello", ["a list"])


# -- demo data --------------------------------------------------------------------------


def test_load_demo_is_balanced_and_clean():
    texts, labels = load_demo()
    assert len(texts) == len(labels) == 240
    assert isinstance(labels, np.ndarray) and labels.dtype.kind == "U"
    values, counts = np.unique(labels, return_counts=True)
    assert sorted(values) == sorted(DEMO_LABELS) and set(counts) == {60}
    assert all(isinstance(t, str) and 3 <= len(t.split()) <= 40 for t in texts)
    words = [frozenset(re.findall(r"[a-z0-9']+", t.lower())) for t in texts]
    assert len(set(words)) == len(texts)  # no duplicates, up to case and punctuation
    worst = max(len(a & b) / len(a | b) for a, b in itertools.combinations(words, 2))
    assert worst < 0.6  # no near-duplicates either
