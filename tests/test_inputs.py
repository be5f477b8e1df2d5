"""Input validation: every bad row is named, every accepted form normalised."""

from __future__ import annotations

import numpy as np
import pytest

from bertfeat import BertVectorizer
from bertfeat._inputs import check_classification_y, check_texts


@pytest.mark.parametrize(
    "X, message",
    [
        (["ok", None, "ok"], r"X row 1: expected a string, got None"),
        (["ok", "ok", float("nan")], r"X row 2: expected a string, got NaN"),
        (["ok", 3], r"X row 1: expected a string, got int 3"),
        (["ok", b"bytes"], r"X row 1: expected a string, got bytes .*decode"),
        ([("a", "b"), ("c", None)], r"X\[:, 1\] row 1: expected a string, got None"),
        ([("a", "b"), "c"], r"X row 1: expected a pair"),
        ([("a", "b"), ("c", "d", "e")], r"X row 1: expected a pair of 2 texts, got 3"),
        ("just one string", r"single str; wrap it in a list"),
        (None, r"X is None"),
        (np.array([["a", "b", "c"]], dtype=object), r"X has 3 columns"),
        (np.zeros((2, 2, 2)), r"got shape \(2, 2, 2\)"),
    ],
)
def test_bad_texts_name_the_row(X, message):
    with pytest.raises((TypeError, ValueError), match=message):
        check_texts(X)


def test_nested_lists_are_refused():
    with pytest.raises(TypeError, match=r"X\[:, 0\] row 0: expected a string, got list"):
        check_texts([[["nested"], "b"]])


def test_dataframe_forms():
    pd = pytest.importorskip("pandas")
    texts = check_texts(pd.DataFrame({"t": ["a", "b"]}))
    assert texts.items == ["a", "b"] and not texts.is_pair and list(texts.feature_names) == ["t"]
    pairs = check_texts(pd.DataFrame({"a": ["x"], "b": ["y"]}))
    assert pairs.items == [("x", "y")] and pairs.is_pair
    with pytest.raises(TypeError, match=r"row 1: expected a string, got NaN"):
        check_texts(pd.Series(["a", np.nan]))
    with pytest.raises(ValueError, match="3 columns"):
        check_texts(pd.DataFrame({"a": ["x"], "b": ["y"], "c": ["z"]}))


def test_empty_whitespace_and_huge_strings_are_valid(tiny_bert):
    huge = "word " * 200_000  # 1 MB
    X = ["", "   ", "\n\t", huge]
    out = BertVectorizer(model=str(tiny_bert)).fit(X).transform(X)
    assert out.shape == (4, 32) and np.isfinite(out).all()


def test_y_length_mismatch_is_named(tiny_bert):
    with pytest.raises(ValueError, match="X has 2 rows but y has 3"):
        BertVectorizer(model=str(tiny_bert)).fit(["a", "b"], [0, 1, 1])


def test_classification_y():
    assert list(check_classification_y(["a", "b"], 2)) == ["a", "b"]
    assert check_classification_y(np.array([1, 2]), 2).dtype.kind == "i"
    with pytest.raises(ValueError, match="y row 1: missing label"):
        check_classification_y([1, None], 2)
    with pytest.raises(ValueError, match="y mixes strings and numbers .*row 2 is str"):
        check_classification_y([1, 0, "a"], 3)
    with pytest.raises(ValueError, match="y must be 1-D"):
        check_classification_y(np.zeros((2, 3)), 2)


@pytest.mark.parametrize(
    "X, message",
    [
        (["fine", "broken \ud800 text"], r"X row 1: character 7 is a lone surrogate '\\ud800'"),
        ([("a", "b"), ("c", "\udcff")], r"X\[:, 1\] row 1: character 0 is a lone surrogate"),
        (np.array(["ok", "\ud83d\ude00"], dtype=object), r"X row 1: character 0 is a lone surrogate"),
    ],
)
def test_lone_surrogates_are_refused_naming_the_row(X, message):
    # Before: the tokenizer raised "TextEncodeInput must be Union[...]" with no row named.
    with pytest.raises(ValueError, match=message):
        check_texts(X)


def test_valid_astral_and_combining_text_is_kept_as_is():
    texts = ["\U0001F600 emoji", "e\u0301\u0301", "\u05e9\u05dc\u05d5\u05dd RTL", "\u200b\ufeff"]
    assert check_texts(texts).items == texts


@pytest.mark.parametrize(
    "X, message",
    [
        ({"text": ["a", "b"]}, r"X is a dict; expected a sequence .*DataFrame"),
        ({"a", "b"}, r"X is a set, whose order is arbitrary"),
        (frozenset({"a"}), r"X is a frozenset"),
    ],
)
def test_mappings_and_sets_are_refused(X, message):
    # Before: a dict was iterated, so {"text": [...]} became the single text "text".
    with pytest.raises(TypeError, match=message):
        check_texts(X)


@pytest.mark.parametrize(
    "y, error, message",
    [
        ([1, None, 0, 1], ValueError, r"y row 1: missing target \(None\)"),
        ([1.0, 0.0, np.nan, 1.0], ValueError, r"y row 2: missing target \(NaN\)"),
        (["pos", np.nan, "neg", "pos"], ValueError, r"y row 1: missing target \(NaN"),  # was a silent class 'nan'
        (np.array([[1, 0], [0, 1], [1, np.nan], [0, 0]]), ValueError, r"y row 2: missing target"),
        ([[1], [0, 1], 1, 0], ValueError, r"y row 1: 2 targets, but row 0 has 1 target"),
        ([1, [0, 1], 0, 1], ValueError, r"y row 1: 2 targets, but row 0 has one target"),
        ([1, {"a": 1}, 0, 1], TypeError, r"y row 1: expected a label or number, got dict"),
        (np.zeros((4, 2, 2)), ValueError, r"y must be 1-D .* or 2-D .*; got shape \(4, 2, 2\)"),
        ("abcd", TypeError, r"y must hold one target per row of X .*; got str"),
        (3, TypeError, r"got int"),
        ({"a": 1}, TypeError, r"got dict"),
        ([1, 0], ValueError, r"X has 4 rows but y has 2"),
    ],
)
def test_bad_targets_name_the_row(y, error, message):
    from bertfeat._inputs import check_target

    with pytest.raises(error, match=message):
        check_target(check_texts(["a", "b", "c", "d"]), y)


def _good_targets():
    pd = pytest.importorskip("pandas")
    return [
        [1, 0, 1, 0], ["x", "y", "x", "z"], [True, False, True, False], [[1, 0], [0, 1], [1, 1], [0, 0]],
        np.array([0.5, 1.5, 2.5, 3.5]), pd.Series([1, 0, 1, 0]), pd.DataFrame({"a": [1, 2, 3, 4], "b": list("wxyz")}),
    ]


def _same(a, b) -> bool:
    if hasattr(a, "equals"):  # pandas
        return type(a) is type(b) and a.equals(b)
    return type(a) is type(b) and np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))


def test_good_targets_pass_untouched(tiny_bert):
    """Accepted, not altered, and handed on as given: the step after BertVectorizer sees
    the very ``y`` the caller passed."""
    import copy

    from sklearn.base import BaseEstimator
    from sklearn.pipeline import Pipeline

    from bertfeat._inputs import check_target

    class Recorder(BaseEstimator):
        def fit(self, X, y):
            self.y_ = y
            return self

    X = ["a", "b", "c", "d"]
    for y in _good_targets():
        before = copy.deepcopy(y)
        assert check_target(check_texts(X), y) is None
        assert _same(y, before), f"check_target changed {before!r}"
        pipe = Pipeline([("vec", BertVectorizer(model=str(tiny_bert), progress=False)), ("last", Recorder())])
        pipe.fit(X, y)
        assert pipe.named_steps["last"].y_ is y and _same(y, before)
