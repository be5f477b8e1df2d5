"""Startup costs: importing bertfeat and building estimators loads no torch, and a model
is loaded once per estimator (once per process across clones), not per transform."""

from __future__ import annotations

import pickle
import subprocess
import sys

from sklearn.base import clone

import bertfeat.vectorizer as vectorizer_module
from bertfeat import BertVectorizer, free_models
from bertfeat._store import store_stats

TEXTS = ["a first text", "a second, longer text to encode", "third"]


def test_import_and_construction_load_neither_torch_nor_transformers():
    code = (
        "import sys\n"
        "import bertfeat\n"
        "from bertfeat import BertVectorizer, FineTuneClassifier\n"
        "from sklearn.base import clone\n"
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "pipe = clone(make_pipeline(BertVectorizer(pooling='cls', layers=[-2, -1]), LogisticRegression()))\n"
        "pipe.get_params(); FineTuneClassifier().get_params()\n"
        "from bertfeat import FineTuneTokenClassifier, FrozenTokenClassifier\n"
        "from bertfeat.tokens import entity_f1, entity_report\n"
        "clone(FineTuneTokenClassifier()).get_params(); clone(FrozenTokenClassifier()).get_params()\n"
        "entity_report([['B-PER', 'O']], [['B-PER', 'O']])\n"
        "print(sorted(m for m in ('torch', 'transformers', 'tokenizers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_one_model_load_per_estimator_not_per_transform(tiny_bert, monkeypatch):
    free_models()
    calls = []
    real = vectorizer_module.load_model
    monkeypatch.setattr(vectorizer_module, "load_model", lambda *a, **k: calls.append(a) or real(*a, **k))
    before = store_stats()["loads"]

    vec = BertVectorizer(tiny_bert, progress=False).fit(TEXTS)
    for _ in range(3):
        vec.transform(TEXTS)
    assert len(calls) == 1  # fit loads; transforms reuse the estimator's model

    clone(vec).set_params(pooling="cls").fit(TEXTS).transform(TEXTS)  # a grid-search candidate
    pickle.loads(pickle.dumps(vec)).transform(TEXTS)  # a deployed copy in this process
    assert store_stats()["loads"] - before == 1  # same files, device and dtype: read from disk once
