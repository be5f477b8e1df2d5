"""The synthetic NER generator used by the token-classification example and benchmark."""

from __future__ import annotations

from bertfeat.datasets.synthetic_ner import FIRST_NAMES, PLACES, SURNAMES, synthetic_ner
from bertfeat.tokens import sentence_spans

TEXTS = [f"i feel number {i} today and it is fine" for i in range(300)]


def entities(X, y):
    """Entity strings by type, read back from the tags."""
    found = {"PER": set(), "LOC": set()}
    for words, tags in zip(X, y):
        for kind, first, last in sentence_spans(tags):
            found[kind].add(" ".join(words[first : last + 1]))
    return found


def is_subsequence(short, long) -> bool:
    it = iter(long)
    return all(any(w == x for x in it) for w in short)


def test_test_entities_never_seen_in_training():
    X_train, y_train, X_test, y_test = synthetic_ner(TEXTS[:200], TEXTS[200:], n_train=150, n_test=80, random_state=3)
    assert len(X_train) == 150 and len(X_test) == 80
    train, test = entities(X_train, y_train), entities(X_test, y_test)
    assert test["PER"] and test["LOC"] and train["PER"]
    train_words = {w for name in train["PER"] | train["LOC"] for w in name.split()}
    test_words = {w for name in test["PER"] | test["LOC"] for w in name.split()}
    assert not train_words & test_words
    assert all(len(w) == len(t) for w, t in zip(X_train + X_test, y_train + y_test))
    # every entity word comes from the hand-written lists, and multi-word names occur
    listed = set(FIRST_NAMES) | set(SURNAMES) | {w for p in PLACES for w in p.split()}
    assert train_words | test_words <= listed
    assert any(len(name.split()) > 1 for name in train["PER"])


def test_iob2_and_the_sentence_kept_in_order():
    X, y, _, _ = synthetic_ner(TEXTS[:50], TEXTS[50:60], n_train=50, n_test=5, random_state=0)
    for words, tags in zip(X, y):
        for i, tag in enumerate(tags):
            if tag.startswith("I-"):
                assert tags[i - 1][2:] == tag[2:] and tags[i - 1] != "O"
        # the original sentence is still there, in order, its words tagged O
        (number,) = [w for w in words if w.isdigit()]
        original = TEXTS[int(number)].split()
        assert is_subsequence(original, [w for w, t in zip(words, tags) if t == "O"])


def test_same_seed_same_data():
    assert synthetic_ner(TEXTS, TEXTS, n_train=20, n_test=20, random_state=1) == synthetic_ner(
        TEXTS, TEXTS, n_train=20, n_test=20, random_state=1)
