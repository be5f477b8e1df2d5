"""FrozenTokenClassifier on a tiny random BERT: word vectors equal a direct transformers
forward pass read at the tokenizer's ``word_ids`` positions, the disk cache answers
without the model, and the scikit-learn contract holds."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from conftest import assert_same_after_reload, build_tiny_bert
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from token_reference import reference_word_outputs, toy_ner

import bertfeat.tokens.frozen as frozen_module
from bertfeat import FrozenTokenClassifier

LONG = ("yesterday ann smith went to reykjavík and then to oslo with bob jones " * 3).split()


@pytest.fixture(scope="module")
def toy():
    return toy_ner(30)


@pytest.fixture(scope="module")
def reference_model(tiny_bert):
    from transformers import AutoModel, AutoTokenizer

    return AutoModel.from_pretrained(str(tiny_bert)).eval(), AutoTokenizer.from_pretrained(str(tiny_bert))


def read(word_vector, layers, layer_agg):
    """A word's vector from a direct forward pass output, by hand."""

    def vector(output, positions):
        states = [output.last_hidden_state] if layers is None else [output.hidden_states[i] for i in layers]
        picked = [h[0, positions[0]] if word_vector == "first" else h[0, positions].mean(0) for h in states]
        return (torch.cat(picked) if layer_agg == "concat" else torch.stack(picked).mean(0)).numpy()

    return vector


@pytest.mark.parametrize(
    "word_vector, layers, layer_agg",
    [("first", "last", "mean"), ("mean", "last", "mean"), ("first", [-1, 0], "concat"), ("mean", [1, 2], "mean")],
)
@pytest.mark.parametrize("max_length, stride", [(128, 32), (12, 3)])
def test_word_vectors_equal_a_direct_forward_pass(tiny_bert, reference_model, toy, word_vector, layers, layer_agg, max_length, stride):
    model, tokenizer = reference_model
    X = [toy[0][0], ["Jürgen", "Habermas", "visited", "Reykjavík"], LONG]
    tagger = FrozenTokenClassifier(
        model=str(tiny_bert), word_vector=word_vector, layers=layers, layer_agg=layer_agg,
        max_length=max_length, stride=stride, device="cpu",
    ).fit(*toy)
    ours = tagger.transform(X)
    by_hand = read(word_vector, None if layers == "last" else layers, layer_agg)
    for words, vectors in zip(X, ours):
        with torch.no_grad():
            expected = reference_word_outputs(
                lambda **kw: model(**kw, output_hidden_states=True), tokenizer, words, max_length, stride, by_hand
            )
        assert vectors.shape == (len(words), tagger.n_features_out_) == expected.shape
        np.testing.assert_allclose(vectors, expected, atol=1e-5)


def test_learns_the_toy_tags_with_the_default_head(tiny_bert, toy):
    tagger = FrozenTokenClassifier(model=str(tiny_bert), layers=[-1, -2], layer_agg="concat").fit(*toy)
    assert type(tagger.head_) is LogisticRegression and tagger.head_.max_iter == 1000
    assert tagger.classes_.tolist() == ["B-LOC", "B-PER", "I-PER", "O"]
    assert tagger.predict(toy[0]) == toy[1] and tagger.score(*toy) == 1.0
    proba = tagger.predict_proba(toy[0][:2])
    assert [p.shape for p in proba] == [(len(s), 4) for s in toy[0][:2]]
    vectors = np.concatenate(tagger.transform(toy[0][:2]))
    np.testing.assert_allclose(np.concatenate(proba), tagger.head_.predict_proba(vectors))


def test_head_is_cloned(tiny_bert, toy):
    head = LinearSVC()
    tagger = FrozenTokenClassifier(model=str(tiny_bert), head=head).fit(*toy)
    assert tagger.head_ is not head and not hasattr(head, "coef_")
    assert len(tagger.predict(toy[0][:1])[0]) == len(toy[0][0])


def test_cache_answers_without_the_model(tiny_bert, toy, tmp_path, monkeypatch):
    cached = FrozenTokenClassifier(model=str(tiny_bert), cache_dir=str(tmp_path)).fit(*toy)
    plain = FrozenTokenClassifier(model=str(tiny_bert)).fit(*toy)
    for a, b in zip(cached.transform(toy[0]), plain.transform(toy[0])):
        np.testing.assert_array_equal(a, b)
    copy = pickle.loads(pickle.dumps(cached))  # holds no model yet

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(frozen_module, "load_model", no_model)
    assert copy.predict(toy[0]) == cached.predict(toy[0])
    with pytest.raises(AssertionError, match="the model was loaded"):
        copy.predict([["a", "sentence", "never", "seen"]])
    # Another option is another setup: no vectors shared.
    other = clone(cached).set_params(word_vector="mean")
    monkeypatch.undo()
    other.fit(*toy)
    assert other._vector_cache.folder != cached._vector_cache.folder


def test_same_sentence_twice_and_changed_context_are_not_mixed(tiny_bert, tmp_path):
    tagger = FrozenTokenClassifier(model=str(tiny_bert), cache_dir=str(tmp_path))
    tagger.fit([["ann", "went", "home"], ["bob", "went", "out"]], [["B-PER", "O", "O"], ["B-PER", "O", "O"]])
    a, b, c = tagger.transform([["ann", "went", "home"], ["bob", "went", "home"], ["ann", "went", "home"]])
    np.testing.assert_array_equal(a, c)
    assert not np.allclose(a[1], b[1])  # "went" in another sentence is another vector


def test_pickle_and_persist_round_trips(tiny_bert, toy, tmp_path):
    from bertfeat import persist

    tagger = FrozenTokenClassifier(model=str(tiny_bert)).fit(*toy)
    expected = tagger.predict_proba(toy[0][:3])
    persist.save(tagger, tmp_path / "saved")
    with pytest.raises(ValueError, match="refusing to read the model"):
        persist.load(tmp_path / "saved")
    for copy in (pickle.loads(pickle.dumps(tagger)), persist.load(tmp_path / "saved", model=str(tiny_bert))):
        for a, b in zip(copy.predict_proba(toy[0][:3]), expected):
            np.testing.assert_allclose(a, b)


def test_a_folder_saved_with_its_encoder_needs_no_model_and_refits_on_another(tiny_bert, toy, tmp_path):
    import shutil

    from bertfeat import persist
    from bertfeat._store import fingerprint

    encoder = shutil.copytree(tiny_bert, tmp_path / "encoder")
    tagger = FrozenTokenClassifier(model=str(encoder), cache_dir=str(tmp_path / "cache")).fit(*toy)
    expected = tagger.predict_proba(toy[0][:3])
    persist.save(tagger, tmp_path / "saved", include_model=True)
    shutil.rmtree(encoder)  # the training folder is gone: the saved folder holds the encoder
    back = persist.load(tmp_path / "saved")
    assert fingerprint(back.model_path_) == tagger.model_fingerprint_
    for a, b in zip(back.predict_proba(toy[0][:3]), expected):
        assert_same_after_reload(a, b)
    # new sentences, so the words come from the encoder, not the cache
    assert [len(t) for t in back.predict([["zoe", "sang"], ["max", "left", "early"]])] == [2, 3]
    # another model asked for: refitting reads it, not the files restored for the old one
    other = build_tiny_bert(tmp_path / "other", tiny_bert, hidden_size=16, intermediate_size=20)
    back.set_params(model=str(other)).fit(*toy)
    assert back.n_features_out_ == 16 and back.model_fingerprint_ == fingerprint(other)


def test_contract(tiny_bert, toy):
    tagger = FrozenTokenClassifier(model=str(tiny_bert), head=LinearSVC(), layers=[-1])
    for name, value in tagger.get_params(deep=False).items():
        assert getattr(tagger, name) is value
    assert "head__C" in tagger.get_params()
    twin = clone(tagger).set_params(head__C=0.5)
    assert twin.head.C == 0.5 and tagger.head.C == 1.0
    with pytest.raises(NotFittedError):
        tagger.predict(toy[0])
    with pytest.raises(TypeError):
        FrozenTokenClassifier(str(tiny_bert))


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(word_vector="last"), "word_vector"),
        (dict(layers=[7]), "layers holds 7"),
        (dict(stride=True), "must be an integer, not a bool"),
        (dict(max_length=12, stride=10), "stride=10 must be smaller"),
        (dict(head="LogisticRegression"), "head"),
    ],
)
def test_bad_parameters_are_named(tiny_bert, toy, params, message):
    with pytest.raises(ValueError, match=message):
        FrozenTokenClassifier(model=str(tiny_bert), **params).fit(*toy)


def test_out_of_memory_halves_the_batch(tiny_bert, toy, monkeypatch):
    import bertfeat.tokens._vectors as vectors

    X = toy[0] + [LONG, LONG[:20]]
    params = dict(model=str(tiny_bert), word_vector="mean", max_length=12, stride=3)
    reference = FrozenTokenClassifier(batch_size=2, **params).fit(*toy).transform(X)
    real_collate, seen = vectors.collate, []

    def collate_that_runs_out_of_memory(tokenized, index, pad_id):
        seen.append(len(index))
        if len(index) > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_collate(tokenized, index, pad_id)

    monkeypatch.setattr(vectors, "collate", collate_that_runs_out_of_memory)
    with pytest.warns(RuntimeWarning, match="out of memory"):
        got = FrozenTokenClassifier(batch_size=32, **params).fit(*toy).transform(X)
    assert max(seen) > 20 and min(seen) <= 3
    for a, b in zip(got, reference):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_grid_search_scores_by_entity_f1(tiny_bert, toy):
    from sklearn.model_selection import GridSearchCV, KFold

    from bertfeat.tokens import entity_f1

    X, y = toy
    search = GridSearchCV(FrozenTokenClassifier(model=str(tiny_bert)), {"word_vector": ["first", "mean"]}, cv=KFold(2))
    search.fit(X, y)
    assert set(search.cv_results_["param_word_vector"]) == {"first", "mean"}
    best = search.best_estimator_
    fold = FrozenTokenClassifier(model=str(tiny_bert), word_vector=best.word_vector).fit(X[15:], y[15:])
    first_fold = entity_f1(y[:15], fold.predict(X[:15]))
    assert search.cv_results_["split0_test_score"][search.best_index_] == pytest.approx(first_fold)
