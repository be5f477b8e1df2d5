"""Entity-level scoring of tag sequences: spans from IOB / IOB2 (and IOBES) tags, and
micro precision / recall / F1 over exactly matching spans.

The convention is conlleval's, the one ``seqeval`` uses by default (its lenient, not
its ``mode="strict"``): a span starts at ``B-X``, at ``S-X``, at an ``I-X`` or ``E-X``
after ``O`` or after a span of another type (so IOB1 files, where ``I-`` opens an
entity, and slightly ill-formed predictions both score as conlleval scores them), and
ends before ``O``, ``B-``, ``S-``, a change of type, or after ``E-`` / ``S-``. A
predicted span counts only when its type, first and last word all equal a true span.
Spans never cross sentences.
"""

from __future__ import annotations

from collections import Counter

from bertfeat.tokens._words import check_sentences, check_tag_pairs, check_tags

PREFIXES = ("B", "I", "E", "S")


def parse_tag(tag: str, sentence: int = 0, word: int = 0) -> tuple[str, str]:
    """``(prefix, type)`` of one tag: ``("O", "")`` for ``O``, ``("B", "PER")`` for ``B-PER``.

    Raises
    ------
    ValueError
        For a tag that is neither ``O`` nor ``B-``/``I-``/``E-``/``S-`` and a type: entity
        scoring has no meaning for it (score such tags by word accuracy instead).
    """
    if tag == "O":
        return "O", ""
    prefix, dash, kind = tag.partition("-")
    if prefix not in PREFIXES or not dash or not kind:
        raise ValueError(
            f"sentence {sentence}, word {word}: tag {tag!r} is not an IOB tag ('O', or B-/I-/E-/S- "
            "followed by a type, e.g. 'B-PER'); entity scores need IOB / IOB2 tags "
            "(for other tags compare words, e.g. sklearn.metrics.accuracy_score on the flattened lists)"
        )
    return prefix, kind


def _ends(prev: str, prev_type: str, tag: str, kind: str) -> bool:
    """Whether the span open before this word ends before it."""
    if prev in ("E", "S"):
        return True
    if prev in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev != "O" and prev_type != kind


def _starts(prev: str, prev_type: str, tag: str, kind: str) -> bool:
    """Whether a span starts at this word."""
    if tag in ("B", "S"):
        return True
    if tag in ("I", "E") and prev in ("E", "S", "O"):
        return True
    return tag != "O" and prev_type != kind


def sentence_spans(tags, sentence: int = 0) -> list[tuple[str, int, int]]:
    """The entities of one sentence as ``(type, first word, last word)`` (inclusive), in order.

    Examples
    --------
    >>> sentence_spans(["B-PER", "I-PER", "O", "I-LOC"])
    [('PER', 0, 1), ('LOC', 3, 3)]
    """
    spans = []
    prev, prev_type, begin = "O", "", 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, kind = parse_tag(tag, sentence, i)
        if _ends(prev, prev_type, prefix, kind):
            spans.append((prev_type, begin, i - 1))
        if _starts(prev, prev_type, prefix, kind):
            begin = i
        prev, prev_type = prefix, kind
    return spans


def entity_spans(y) -> set[tuple[str, int, int, int]]:
    """Every entity of a list of tag lists as ``(type, sentence, first word, last word)``."""
    return {(kind, s, first, last) for s, tags in enumerate(y) for kind, first, last in sentence_spans(tags, s)}


def _prf(correct: int, predicted: int, true: int) -> dict:
    """Precision, recall and F1 (0.0 where undefined, as seqeval's zero_division default)."""
    precision = correct / predicted if predicted else 0.0
    recall = correct / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": true}


def entity_report(y_true, y_pred) -> dict:
    """Entity-level precision, recall, F1 and support per entity type and over all types.

    Parameters
    ----------
    y_true, y_pred : list of list of str
        True and predicted tags, one list per sentence, one tag per word (IOB, IOB2 or
        IOBES; see the module's notes for the exact span convention).

    Returns
    -------
    dict
        ``{type: {"precision", "recall", "f1", "support"}}`` for each type found in
        either side (sorted), and ``"micro avg"``: the same over all spans. Support is
        the number of true spans.

    Raises
    ------
    ValueError
        When the sides differ in sentences or words (naming the sentence), or a tag is
        not an IOB tag (naming the sentence and word).
    """
    y_true, y_pred = check_tag_pairs(y_true, y_pred)
    true, pred = entity_spans(y_true), entity_spans(y_pred)
    hits = true & pred
    n_true = Counter(span[0] for span in true)
    n_pred = Counter(span[0] for span in pred)
    n_hit = Counter(span[0] for span in hits)
    report = {kind: _prf(n_hit[kind], n_pred[kind], n_true[kind]) for kind in sorted(set(n_true) | set(n_pred))}
    report["micro avg"] = _prf(len(hits), len(pred), len(true))
    return report


def entity_f1(y_true, y_pred) -> float:
    """Entity-level micro F1 (the ``"micro avg"`` F1 of :func:`entity_report`)."""
    return entity_report(y_true, y_pred)["micro avg"]["f1"]


class TaggerMixin:
    """``score`` and scikit-learn tags shared by the word taggers (input: lists of words)."""

    def score(self, X, y, sample_weight=None) -> float:
        """Entity-level micro F1 of ``predict(X)`` against ``y`` (IOB / IOB2 spans, the
        seqeval convention; :func:`bertfeat.tokens.entity_f1`)."""
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported: entity F1 counts spans, not rows")
        tags = check_tags(y, check_sentences(X))
        return entity_f1(tags, self.predict(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # lists of word lists, not a numeric matrix
        tags.input_tags.string = True
        tags.target_tags.required = True
        return tags
