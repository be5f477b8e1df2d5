"""Input checks for word-level data: ``X`` a list of sentences, each a list of words
(str); ``y`` a list of tag lists of the same lengths. Every error names the sentence
(0-based index in ``X``) and, where it is about one word, the word's index in it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _as_list(obj, what: str) -> list:
    """A sequence (list, tuple, 1-D array, Series) as a list; refuse strings and mappings."""
    if isinstance(obj, (str, bytes)):
        raise ValueError(
            f"{what} is a {type(obj).__name__}; expected a list of sentences, each a list of words "
            "(e.g. [['Ann', 'lives', 'in', 'Rome']]); split texts into words first"
        )
    if hasattr(obj, "to_numpy") and not isinstance(obj, np.ndarray):  # pandas Series
        obj = obj.to_numpy()
    if isinstance(obj, np.ndarray):
        if obj.ndim != 1 and obj.dtype == object:
            raise ValueError(f"{what} must be 1-D (one entry per sentence); got an array of shape {obj.shape}")
        return list(obj)
    if isinstance(obj, Sequence):
        return list(obj)
    raise ValueError(f"{what} must be a list of sentences (each a list of words); got {type(obj).__name__}")


def _items(sentence, index: int, what: str) -> list:
    """One sentence's entries as a list (words, or tags)."""
    if isinstance(sentence, (str, bytes)):
        raise ValueError(
            f"sentence {index} of {what} is a {type(sentence).__name__}, not a list of "
            f"{'words' if what == 'X' else 'tags'}; split it first (e.g. {sentence[:30]!r}.split())"
        )
    if isinstance(sentence, np.ndarray) and sentence.ndim == 1:
        return list(sentence)
    if isinstance(sentence, Sequence):
        return list(sentence)
    raise ValueError(
        f"sentence {index} of {what} is a {type(sentence).__name__}; expected a list of "
        f"{'words' if what == 'X' else 'tags'} (str)"
    )


def check_sentences(X) -> list[list[str]]:
    """``X`` as a list of lists of plain ``str`` words.

    Raises
    ------
    ValueError
        Naming the sentence (and word) of an empty input, a sentence that is not a list,
        an empty sentence, a word that is not a string, or an empty / blank word (a
        tokenizer gives it no sub-tokens, so it could get no prediction).
    """
    sentences = _as_list(X, "X")
    if not sentences:
        raise ValueError("X holds no sentences; expected a non-empty list of sentences (lists of words)")
    out = []
    for s, sentence in enumerate(sentences):
        words = _items(sentence, s, "X")
        if not words:
            raise ValueError(f"sentence {s} of X is empty; every sentence needs at least one word")
        for w, word in enumerate(words):
            if not isinstance(word, str):
                raise ValueError(
                    f"sentence {s}, word {w} of X is {word!r} ({type(word).__name__}); every word must be a str"
                )
            if not word.strip():
                raise ValueError(
                    f"sentence {s}, word {w} of X is {'empty' if not word else 'blank (' + repr(word) + ')'}; "
                    "words must hold a visible character"
                )
        out.append([str(word) for word in words])
    return out


def check_tags(y, sentences: list[list[str]]) -> list[list[str]]:
    """``y`` as a list of tag lists matching ``sentences`` word for word.

    Raises
    ------
    ValueError
        On a different number of sentences, a tag list of another length than its
        sentence (naming the sentence), or a tag that is not a non-empty str (naming the
        sentence and word).
    """
    if y is None:
        raise ValueError("y is required: a list of tag lists, one tag per word of X")
    tag_lists = _as_list(y, "y")
    if len(tag_lists) != len(sentences):
        raise ValueError(f"X has {len(sentences)} sentences but y has {len(tag_lists)}; they must match")
    out = []
    for s, (tags, words) in enumerate(zip(tag_lists, sentences)):
        tags = _items(tags, s, "y")
        if len(tags) != len(words):
            raise ValueError(
                f"sentence {s}: X has {len(words)} words but y has {len(tags)} tags; they must match one to one"
            )
        for w, tag in enumerate(tags):
            if not isinstance(tag, str) or not tag:
                raise ValueError(
                    f"sentence {s}, word {w} of y: tag {tag!r} ({type(tag).__name__}) is not a non-empty str"
                )
        out.append([str(tag) for tag in tags])
    return out


def check_tag_pairs(y_true, y_pred) -> tuple[list[list[str]], list[list[str]]]:
    """Two lists of tag lists of the same shape (same sentences, same words)."""
    true = _as_list(y_true, "y_true")
    pred = _as_list(y_pred, "y_pred")
    if len(true) != len(pred):
        raise ValueError(f"y_true has {len(true)} sentences but y_pred has {len(pred)}; they must match")
    out_true, out_pred = [], []
    for s, (a, b) in enumerate(zip(true, pred)):
        a, b = _items(a, s, "y_true"), _items(b, s, "y_pred")
        if len(a) != len(b):
            raise ValueError(f"sentence {s}: y_true has {len(a)} tags but y_pred has {len(b)}; they must match")
        for w, tag in enumerate([*a, *b]):
            if not isinstance(tag, str):
                side, i = ("y_true", w) if w < len(a) else ("y_pred", w - len(a))
                raise ValueError(f"sentence {s}, word {i} of {side}: tag {tag!r} is not a str")
        out_true.append(a)
        out_pred.append(b)
    return out_true, out_pred
