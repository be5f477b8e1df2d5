"""Fine-tuning a BERT-family transformer as one scikit-learn estimator.

- ``classifier.py`` / ``regressor.py``: the estimators (targets, predictions);
- ``base.py``: what they share (parameters, ``fit``, ``transform``, export, pickling);
- ``hf.py``: building, saving and loading the Hugging Face model folder.

Training runs on :mod:`bertfeat.training` (the loop the MLP heads use too); its
callbacks are re-exported here.
"""

from bertfeat.training.callbacks import (
    Callback,
    EarlyStopping,
    EpochScoring,
    History,
    PrintLog,
    ProgressBar,
)
from bertfeat.finetune.classifier import FineTuneClassifier
from bertfeat.finetune.regressor import FineTuneRegressor

__all__ = [
    "Callback",
    "EarlyStopping",
    "EpochScoring",
    "FineTuneClassifier",
    "FineTuneRegressor",
    "History",
    "PrintLog",
    "ProgressBar",
]
