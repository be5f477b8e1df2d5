"""Entity spans and entity-level scores (bertfeat.tokens._spans) against hand-computed
span sets, and against seqeval where it is installed (it is not a dependency)."""

from __future__ import annotations

import numpy as np
import pytest

from bertfeat.tokens import entity_f1, entity_report, entity_spans, sentence_spans


@pytest.mark.parametrize(
    "tags, spans",
    [
        (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 1), ("LOC", 3, 3)]),
        (["B-PER", "B-PER", "I-PER"], [("PER", 0, 0), ("PER", 1, 2)]),  # B- ends the span before
        (["O", "I-PER", "I-PER", "O"], [("PER", 1, 2)]),  # IOB1: I- after O opens an entity
        (["I-PER", "I-LOC", "B-LOC"], [("PER", 0, 0), ("LOC", 1, 1), ("LOC", 2, 2)]),  # a type change splits
        (["B-ORG", "I-ORG", "I-ORG"], [("ORG", 0, 2)]),  # runs to the sentence's end
        (["S-PER", "B-LOC", "E-LOC", "E-LOC"], [("PER", 0, 0), ("LOC", 1, 2), ("LOC", 3, 3)]),  # IOBES
        (["O", "O"], []),
    ],
)
def test_sentence_spans_by_hand(tags, spans):
    assert sentence_spans(tags) == spans


def test_spans_never_cross_sentences():
    assert entity_spans([["O", "B-PER"], ["I-PER", "O"]]) == {("PER", 0, 1, 1), ("PER", 1, 0, 0)}


def test_report_by_hand():
    y_true = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG", "I-ORG", "O", "B-PER"]]
    y_pred = [["B-PER", "I-PER", "O", "B-ORG"], ["O", "B-ORG", "O", "O", "B-PER"]]
    # true spans: PER(0,0-1) LOC(0,3) ORG(1,1-2) PER(1,4); predicted: PER(0,0-1) ORG(0,3) ORG(1,1) PER(1,4)
    report = entity_report(y_true, y_pred)
    assert set(report) == {"LOC", "ORG", "PER", "micro avg"}
    assert report["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert report["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    micro = report["micro avg"]
    assert micro["precision"] == 2 / 4 and micro["recall"] == 2 / 4 and micro["support"] == 4
    assert entity_f1(y_true, y_pred) == pytest.approx(0.5)


def test_no_predicted_entities_scores_zero_not_nan():
    assert entity_f1([["B-PER", "O"]], [["O", "O"]]) == 0.0
    assert entity_report([["O"]], [["O"]])["micro avg"]["f1"] == 0.0


@pytest.mark.parametrize(
    "y_true, y_pred, message",
    [
        ([["O"]], [["O"], ["O"]], "y_true has 1 sentences but y_pred has 2"),
        ([["O", "O"], ["O"]], [["O", "O"], ["O", "O"]], "sentence 1: y_true has 1 tags but y_pred has 2"),
        ([["O", "PER"]], [["O", "O"]], "sentence 0, word 1: tag 'PER' is not an IOB tag"),
        ([["O", "B-"]], [["O", "O"]], "sentence 0, word 1: tag 'B-' is not an IOB tag"),
        ([["O", 3]], [["O", "O"]], "sentence 0, word 1 of y_true: tag 3 is not a str"),
        ("B-PER O", [["O"]], "y_true is a str"),
    ],
)
def test_bad_tags_are_named(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        entity_report(y_true, y_pred)


def _random_tags(rng, n_sentences):
    choices = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "B-ORG"]
    return [list(rng.choice(choices, size=rng.randint(1, 12))) for _ in range(n_sentences)]


def test_matches_seqeval_on_random_tags():
    seqeval = pytest.importorskip("seqeval.metrics")
    rng = np.random.RandomState(0)
    for _ in range(30):
        y_true = _random_tags(rng, 20)
        y_pred = [[t if rng.rand() < 0.7 else rng.choice(["O", "B-PER", "I-LOC", "I-ORG"]) for t in s] for s in y_true]
        y_true = [[str(t) for t in s] for s in y_true]
        y_pred = [[str(t) for t in s] for s in y_pred]
        ours = entity_report(y_true, y_pred)
        theirs = seqeval.classification_report(y_true, y_pred, output_dict=True, zero_division=0)
        for kind, row in ours.items():
            assert row["precision"] == pytest.approx(theirs[kind]["precision"])
            assert row["recall"] == pytest.approx(theirs[kind]["recall"])
            assert row["f1"] == pytest.approx(theirs[kind]["f1-score"])
            assert row["support"] == theirs[kind]["support"]
        assert entity_f1(y_true, y_pred) == pytest.approx(seqeval.f1_score(y_true, y_pred, zero_division=0))
