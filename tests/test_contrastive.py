"""ContrastiveClassifier (SetFit-style) and its pair generator, on tiny random BERTs.

References are independent: a direct transformers forward pass of the saved folder,
sentence-transformers' own loader, scikit-learn's LogisticRegression on those vectors.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from conftest import assert_same_after_reload
from reference import reference_vectors
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import LinearSVC

from bertfeat import BertVectorizer, ContrastiveClassifier, persist
from bertfeat.contrastive import make_pairs
from bertfeat.training.callbacks import Callback

KEYWORDS = {"joy": ["great", "love", "happy"], "anger": ["awful", "hate", "furious"], "calm": ["quiet", "still", "slow"]}
FILLERS = ["a", "the", "one", "my", "this"]
FAST = dict(learning_rate=1e-3, n_iterations=3, batch_size=8, device="cpu", progress=False, random_state=0)


def toy_texts(n: int, seed: int = 0):
    rng = np.random.RandomState(seed)
    labels = [list(KEYWORDS)[i % 3] for i in range(n)]
    texts = [f"{rng.choice(FILLERS)} {rng.choice(KEYWORDS[c])} {rng.choice(FILLERS)} day" for c in labels]
    return texts, np.asarray(labels)


class StepLosses(Callback):
    def on_train_begin(self, state):
        self.losses = []

    def on_step_end(self, state):
        self.losses.append(state.batch_loss)


@pytest.fixture(scope="module")
def toy():
    return toy_texts(24)


@pytest.fixture(scope="module")
def fitted(tiny_bert, toy):
    X, y = toy
    return ContrastiveClassifier(str(tiny_bert), max_epochs=3, **FAST).fit(X, y)


@pytest.fixture(scope="module")
def exported(fitted, tmp_path_factory):
    folder = tmp_path_factory.mktemp("contrastive")
    fitted.save_pretrained(folder)
    return folder


# -- pairs -------------------------------------------------------------------------------
def test_pairs_are_linear_labelled_and_deterministic():
    codes = np.array([0] * 5 + [1] * 3 + [2] * 1 + [3] * 7)
    pairs, targets = make_pairs(codes, 4, np.random.RandomState(1))
    assert pairs.shape == (2 * 4 * len(codes), 2) and targets.shape == (len(pairs),)
    same = codes[pairs[:, 0]] == codes[pairs[:, 1]]
    np.testing.assert_array_equal(same, targets == 1.0)
    assert targets.sum() == len(pairs) / 2  # as many positives as negatives
    # every example anchors n_iterations positives and n_iterations negatives
    np.testing.assert_array_equal(np.bincount(pairs[:, 0], minlength=len(codes)), 8)
    # a positive partner is another example, except in a class of one
    self_pairs = pairs[:, 0] == pairs[:, 1]
    assert set(codes[pairs[self_pairs, 0]]) <= {2}
    again, _ = make_pairs(codes, 4, np.random.RandomState(1))
    np.testing.assert_array_equal(pairs, again)
    other, _ = make_pairs(codes, 4, np.random.RandomState(2))
    assert not np.array_equal(pairs, other)


def test_negative_classes_are_balanced_whatever_the_class_sizes():
    codes = np.array([0] * 90 + [1] * 5 + [2] * 5)
    pairs, targets = make_pairs(codes, 50, np.random.RandomState(0))
    negatives = pairs[targets == 0.0]
    from_big = negatives[codes[negatives[:, 0]] == 0]
    counts = np.bincount(codes[from_big[:, 1]], minlength=3)
    assert counts[0] == 0 and abs(counts[1] - counts[2]) < 0.1 * counts[1:].sum()


def test_pairs_need_two_classes():
    with pytest.raises(ValueError, match="at least 2 classes"):
        make_pairs(np.zeros(4, dtype=int), 2, np.random.RandomState(0))


# -- fit and predictions -------------------------------------------------------------------
def test_training_pulls_classes_apart(tiny_bert, fitted, exported, toy):
    X, y = toy
    before = reference_vectors(tiny_bert, X)
    after = reference_vectors(exported, X)

    def margin(vectors):
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        cos = unit @ unit.T
        same = y[:, None] == y[None, :]
        off = ~np.eye(len(y), dtype=bool)
        return cos[same & off].mean() - cos[~same].mean()

    assert margin(after) > margin(before) + 0.2
    assert fitted.score(X, y) == 1.0
    assert fitted.n_pairs_ == 2 * 3 * len(X) and len(fitted.history_) == 3 and fitted.n_iter_ == 3


def test_the_loss_is_the_squared_error_of_pair_cosines(tmp_path, minilm_path):
    # Without dropout, the first step (learning rate 0: the warmup starts there) sees the
    # base encoder: its batch loss must be the mean squared error between each pair's
    # cosine (direct transformers forward passes) and its 1/0 same-class target.
    from conftest import build_tiny_bert

    folder = build_tiny_bert(tmp_path, minilm_path, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    X, y = toy_texts(9)
    recorder = StepLosses()
    clf = ContrastiveClassifier(str(folder), **{**FAST, "n_iterations": 1}, callbacks=[("losses", recorder)])
    clf.fit(X, y)
    assert len(recorder.losses) == int(np.ceil(2 * len(X) / 8))
    # the first batch, drawn as fit draws it: pairs from the seed, then a seeded permutation
    seed = int(np.random.RandomState(0).randint(np.iinfo(np.int32).max))
    pairs, targets = make_pairs(np.unique(y, return_inverse=True)[1], 1, np.random.RandomState(seed))
    first = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed)).numpy()[:8]
    vectors = reference_vectors(folder, X, max_length=128)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosines = (unit[pairs[first, 0]] * unit[pairs[first, 1]]).sum(1)
    assert recorder.losses[0] == pytest.approx(np.mean((cosines - targets[first]) ** 2), abs=1e-5)


def test_transform_is_the_tuned_encoders_pooled_vectors(fitted, exported, toy):
    X, _ = toy
    np.testing.assert_allclose(fitted.transform(X), reference_vectors(exported, X, max_length=128), atol=1e-5)
    assert fitted.n_features_out_ == 32 and fitted.get_feature_names_out()[0] == "contrastiveclassifier0"


def test_head_is_fitted_on_the_tuned_vectors(fitted, exported, toy):
    X, y = toy
    head = LogisticRegression().fit(reference_vectors(exported, X), y)
    np.testing.assert_allclose(fitted.predict_proba(X), head.predict_proba(reference_vectors(exported, X)), atol=1e-4)
    np.testing.assert_array_equal(fitted.classes_, np.unique(y))
    assert fitted.decision_function(X).shape == (len(X), 3)


def test_same_seed_same_model_other_seed_other_model(tiny_bert):
    X, y = toy_texts(9)
    quick = {**FAST, "n_iterations": 1}
    a = ContrastiveClassifier(str(tiny_bert), **quick).fit(X, y).transform(X)
    b = ContrastiveClassifier(str(tiny_bert), **quick).fit(X, y).transform(X)
    c = ContrastiveClassifier(str(tiny_bert), **{**quick, "random_state": 1}).fit(X, y).transform(X)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-4


def test_methods_follow_the_head(tiny_bert, toy):
    X, y = toy_texts(9)
    knn = ContrastiveClassifier(str(tiny_bert), head=KNeighborsClassifier(3), **FAST)
    assert not hasattr(knn, "decision_function") and hasattr(knn, "predict_proba")
    svc = ContrastiveClassifier(str(tiny_bert), head=LinearSVC(), **{**FAST, "n_iterations": 1}).fit(X, y)
    assert hasattr(svc, "decision_function") and not hasattr(svc, "predict_proba")
    assert svc.decision_function(X).shape == (len(X), 3)


def test_params_clone_and_nested_head_params(tiny_bert):
    clf = ContrastiveClassifier(str(tiny_bert), head=LogisticRegression(C=2.0), callbacks=[("losses", StepLosses())])
    params = clf.get_params()
    assert params["head__C"] == 2.0 and "callbacks__losses" in params
    clf.set_params(head__C=0.5)
    assert clone(clf).head.C == 0.5


@pytest.mark.parametrize(
    "param, value",
    [("n_iterations", 0), ("batch_size", 0), ("learning_rate", 0.0), ("pooling", "pooler"), ("max_epochs", True),
     ("head", "logistic")],
)
def test_bad_parameters_are_named_at_fit(tiny_bert, toy, param, value):
    with pytest.raises(ValueError, match=param):
        ContrastiveClassifier(str(tiny_bert), **{**FAST, param: value}).fit(*toy)


def test_pairs_and_single_classes_are_refused_clearly(tiny_bert):
    clf = ContrastiveClassifier(str(tiny_bert), **FAST)
    with pytest.raises(ValueError, match="sentence pairs.*pair_mode='bi'"):
        clf.fit([("a b", "c d"), ("e f", "g h")], [0, 1])
    with pytest.raises(ValueError, match="single class"):
        clf.fit(["a", "b"], ["x", "x"])
    with pytest.raises(TypeError, match="row 1"):
        clf.fit(["a", None, "c"], [0, 1, 0])


# -- saving ----------------------------------------------------------------------------------
def test_saved_folder_is_a_sentence_transformers_folder(fitted, exported, toy):
    X, _ = toy
    modules = json.loads((exported / "modules.json").read_text())
    assert [m["type"] for m in modules] == ["sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling"]
    pooling = json.loads((exported / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and pooling["word_embedding_dimension"] == 32
    assert json.loads((exported / "sentence_bert_config.json").read_text())["max_seq_length"] == 128
    vectors = BertVectorizer(model=str(exported), max_length=128, device="cpu").fit_transform(X)
    np.testing.assert_allclose(vectors, fitted.transform(X), atol=1e-5)


def test_sentence_transformers_loads_the_saved_folder(fitted, exported, toy):
    st = pytest.importorskip("sentence_transformers")
    X, _ = toy
    model = st.SentenceTransformer(str(exported), device="cpu")
    np.testing.assert_allclose(model.encode(X, convert_to_numpy=True), fitted.transform(X), atol=1e-5)


def test_from_pretrained_rebuilds_the_classifier(fitted, exported, toy):
    X, _ = toy
    back = ContrastiveClassifier.from_pretrained(exported)
    np.testing.assert_allclose(back.predict_proba(X), fitted.predict_proba(X), atol=1e-6)
    assert back.n_pairs_ == fitted.n_pairs_ and back.get_params()["n_iterations"] == 3


def test_from_pretrained_refuses_an_encoder_without_head(tiny_bert):
    with pytest.raises(ValueError, match="holds no ContrastiveClassifier"):
        ContrastiveClassifier.from_pretrained(tiny_bert)


def test_pickle_and_persist_round_trips(fitted, toy, tmp_path):
    X, _ = toy
    back = pickle.loads(pickle.dumps(fitted))
    assert_same_after_reload(back.predict_proba(X), fitted.predict_proba(X))
    assert not any(isinstance(v, torch.nn.Module) for v in back.__getstate__().values())
    persist.save(fitted, tmp_path / "saved")
    loaded = persist.load(tmp_path / "saved")
    np.testing.assert_allclose(loaded.predict_proba(X), fitted.predict_proba(X), atol=1e-6)


def test_unfitted_pickle_and_clone(tiny_bert):
    clf = ContrastiveClassifier(str(tiny_bert), **FAST)
    assert pickle.loads(pickle.dumps(clf)).get_params() == clf.get_params()
