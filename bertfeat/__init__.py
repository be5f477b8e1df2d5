"""bertfeat: BERT-family transformers as scikit-learn estimators.

Public names are imported lazily so that ``import bertfeat`` does not import torch
or transformers until an estimator is used.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "BertVectorizer": "bertfeat.vectorizer",
    "MLPHeadClassifier": "bertfeat.heads",
    "MLPHeadRegressor": "bertfeat.heads",
    "FineTuneClassifier": "bertfeat.finetune",
    "FineTuneRegressor": "bertfeat.finetune",
    "FineTuneTokenClassifier": "bertfeat.tokens",
    "FrozenTokenClassifier": "bertfeat.tokens",
    "ContrastiveClassifier": "bertfeat.contrastive",
    "default_model_path": "bertfeat._store",
    "free_models": "bertfeat._store",
    "POOLINGS": "bertfeat._pooling",
    "LAYER_AGGS": "bertfeat._pooling",
    "FAST_MODES": "bertfeat.vectorizer",
    "encoding_stats": "bertfeat._encode",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bertfeat' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
