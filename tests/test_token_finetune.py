"""FineTuneTokenClassifier on a tiny random BERT: it learns, its probabilities equal plain
transformers' (exported folder, hand-cut windows), and it keeps the scikit-learn contract."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from token_reference import reference_word_outputs, toy_ner

from bertfeat import FineTuneTokenClassifier
from bertfeat.tokens import entity_f1
from bertfeat.tokens._training import token_loss

FAST = dict(learning_rate=5e-3, batch_size=12, warmup_ratio=0.0, verbose=0, random_state=0, device="cpu")
LONG = ("yesterday ann smith went to reykjavík and then to oslo with bob jones " * 3).split()


@pytest.fixture(scope="module")
def toy():
    return toy_ner(24)


@pytest.fixture(scope="module")
def fitted(tiny_bert, toy):
    X, y = toy
    return FineTuneTokenClassifier(model=str(tiny_bert), max_epochs=10, **FAST).fit(X, y)


@pytest.fixture(scope="module")
def exported(fitted, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tagger")
    fitted.save_pretrained(folder)
    return folder


def softmax(logits):
    return torch.softmax(torch.as_tensor(logits).double(), dim=-1).numpy()


def test_learns_the_toy_tags(fitted, toy):
    X, y = toy
    assert fitted.classes_.tolist() == ["B-LOC", "B-PER", "I-PER", "O"]
    assert fitted.predict(X) == y
    assert fitted.score(X, y) == 1.0
    X_new, y_new = toy_ner(30, seed=1)  # other combinations of the same words
    assert fitted.score(X_new, y_new) > 0.9
    proba = fitted.predict_proba(X[:3])
    assert [p.shape for p in proba] == [(len(s), 4) for s in X[:3]]
    np.testing.assert_allclose([p.sum(1) for p in proba][0], 1.0)


def test_exported_folder_gives_plain_transformers_logits(fitted, exported, toy):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    model = AutoModelForTokenClassification.from_pretrained(str(exported)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(exported))
    assert model.config.id2label == dict(enumerate(fitted.classes_.tolist()))
    assert model.config.label2id == {c: i for i, c in enumerate(fitted.classes_.tolist())}
    X = toy[0][:5] + [["Jürgen", "Habermas", "visited", "Reykjavík"]]
    ours = fitted.predict_proba(X)
    for words, proba in zip(X, ours):
        enc = tokenizer(words, is_split_into_words=True, return_tensors="pt")
        word_ids = enc.word_ids()
        firsts = [word_ids.index(w) for w in range(len(words))]
        with torch.no_grad():
            logits = model(**enc).logits[0, firsts]
        np.testing.assert_allclose(proba, softmax(logits), atol=1e-5)


def test_from_pretrained_reads_it_back(fitted, exported, toy):
    again = FineTuneTokenClassifier.from_pretrained(exported)
    assert again.get_params()["learning_rate"] == fitted.learning_rate
    assert again.history_ == fitted.history_
    for a, b in zip(again.predict_proba(toy[0][:4]), fitted.predict_proba(toy[0][:4])):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_long_sentences_in_windows_predict_every_word(fitted, exported, toy):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    windowed = FineTuneTokenClassifier.from_pretrained(exported, max_length=12, stride=3)
    model = AutoModelForTokenClassification.from_pretrained(str(exported)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(exported))
    assert len(tokenizer(LONG, is_split_into_words=True)["input_ids"]) > 3 * 12
    proba = windowed.predict_proba([LONG])[0]
    assert proba.shape == (len(LONG), 4) and len(windowed.predict([LONG])[0]) == len(LONG)
    expected = reference_word_outputs(
        model, tokenizer, LONG, 12, 3, lambda out, positions: softmax(out.logits[0, positions[0]])
    )
    np.testing.assert_allclose(proba, expected, atol=1e-5)
    # Sentences that fit in one window: the same as without windows.
    short = [s for s in toy[0] if len(tokenizer(s, is_split_into_words=True)["input_ids"]) <= 12][:6]
    assert short
    for a, b in zip(windowed.predict_proba(short), fitted.predict_proba(short)):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_pickle_and_persist_round_trips(fitted, toy, tmp_path):
    from bertfeat import persist

    expected = fitted.predict_proba(toy[0][:4])
    for copy in (pickle.loads(pickle.dumps(fitted)), None):
        if copy is None:
            persist.save(fitted, tmp_path / "saved")
            copy = persist.load(tmp_path / "saved")
        assert isinstance(copy, FineTuneTokenClassifier)
        assert copy.classes_.tolist() == fitted.classes_.tolist()
        for a, b in zip(copy.predict_proba(toy[0][:4]), expected):
            np.testing.assert_allclose(a, b, atol=1e-6)


def test_validation_scores_are_the_held_out_sentences_scores(tiny_bert, toy):
    X, y = toy
    tagger = FineTuneTokenClassifier(model=str(tiny_bert), max_epochs=2, validation_fraction=0.25, patience=None, **FAST)
    tagger.fit(X, y)
    held = tagger.validation_index_
    assert len(held) == 6 and len(tagger.history_) == 2
    X_valid, y_valid = [X[i] for i in held], [y[i] for i in held]
    predicted = tagger.predict(X_valid)
    words = np.concatenate([np.array(t) == np.array(p) for t, p in zip(y_valid, predicted)])
    last = tagger.history_[-1]
    assert last["valid_accuracy"] == pytest.approx(words.mean())
    assert last["valid_entity_f1"] == pytest.approx(entity_f1(y_valid, predicted))


def test_token_loss_is_torchs_mean_over_labelled_sub_tokens():
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 4)
    targets = torch.tensor([[-100, 1, 2, -100, 0, -100, -100], [3, -100, -100, -100, -100, -100, -100], [0, 0, 1, 2, 3, -100, -100]])
    labelled = targets[:, :5].reshape(-1) != -100
    flat_logits, flat_targets = logits.reshape(-1, 4)[labelled], targets[:, :5].reshape(-1)[labelled]
    classes = np.array(["a", "b", "c", "d"])
    plain = token_loss(classes, None, np.array([0, 1, 2, 3]))(logits, targets)
    assert float(plain) == pytest.approx(float(torch.nn.functional.cross_entropy(flat_logits, flat_targets)))
    weights = {"a": 2.0, "d": 0.5}
    weighted = token_loss(classes, weights, np.array([0, 1, 2, 3]))(logits, targets)
    reference = torch.nn.functional.cross_entropy(flat_logits, flat_targets, weight=torch.tensor([2.0, 1.0, 1.0, 0.5]))
    assert float(weighted) == pytest.approx(float(reference))
    assert float(token_loss(classes, None, np.array([0]))(logits, torch.full((3, 5), -100))) == 0.0


# -- the scikit-learn contract -------------------------------------------------------------
def test_parameters_contract(tiny_bert):
    tagger = FineTuneTokenClassifier(model=str(tiny_bert), stride=8, class_weight="balanced")
    for name, value in tagger.get_params().items():
        assert getattr(tagger, name) is value
    assert not [k for k in vars(tagger) if k.endswith("_")]
    twin = clone(tagger)
    assert twin.get_params() == tagger.get_params()
    assert twin.set_params(max_epochs=7) is twin and twin.max_epochs == 7
    with pytest.raises(TypeError):
        FineTuneTokenClassifier(str(tiny_bert))  # keyword-only


def test_not_fitted(tmp_path):
    tagger = FineTuneTokenClassifier()
    for call in (lambda: tagger.predict([["a"]]), lambda: tagger.predict_proba([["a"]]), lambda: tagger.save_pretrained(tmp_path)):
        with pytest.raises(NotFittedError):
            call()


@pytest.mark.parametrize(
    "params, y, message",
    [
        (dict(max_epochs=0), None, "max_epochs"),
        (dict(batch_size=True), None, "must be an integer, not a bool"),
        (dict(early_stopping_metric="f1_macro"), None, "early_stopping_metric"),
        (dict(class_weight={"O": -1}), None, "class_weight="),
        (dict(), [["O", "O"], ["O"]], "sentence 1: X has 2 words but y has 1 tags"),
        (dict(), [["O", "O"], ["O", "O"]], "a single tag"),
        (dict(early_stopping_metric="entity_f1", validation_fraction=0.5), [["NN", "VB"], ["NN", "NN"]], "needs IOB tags"),
        (dict(max_length=12, stride=10), [["O", "B-PER"], ["O", "O"]], "stride=10 must be smaller"),
        (dict(class_weight={"X": 2.0}), [["O", "B-PER"], ["O", "O"]], "class_weight names tags not in y"),
    ],
)
def test_bad_parameters_and_targets_are_named(tiny_bert, params, y, message):
    X = [["a", "b"], ["c", "d"]]
    tagger = FineTuneTokenClassifier(model=str(tiny_bert), max_epochs=params.pop("max_epochs", 1), **params, verbose=0)
    with pytest.raises(ValueError, match=message):
        tagger.fit(X, y if y is not None else [["O", "B-PER"], ["O", "O"]])


def test_other_tags_train_but_have_no_entity_score(fitted, tiny_bert):
    X, y = [["the", "dog", "runs"], ["a", "cat", "sleeps"]] * 4, [["DT", "NN", "VB"], ["DT", "NN", "VB"]] * 4
    tagger = FineTuneTokenClassifier(model=str(tiny_bert), max_epochs=1, **FAST).fit(X, y)
    assert all(len(p) == len(s) for p, s in zip(tagger.predict(X), X))
    with pytest.raises(ValueError, match="not an IOB tag"):
        tagger.score(X, y)
