"""Fine-tuning a BERT-family transformer as one scikit-learn estimator.

- ``classifier.py`` / ``regressor.py``: the estimators (targets, predictions);
- ``base.py``: what they share (parameters, ``fit``, ``transform``, export, pickling);
- ``loop.py``: the short training loop (batches, optimizer steps, validation pass);
- ``callbacks.py``: behaviour around the loop (scoring, early stopping, history, progress);
- ``hf.py``: building, saving and loading the Hugging Face model folder.
"""

from bertfeat.finetune.callbacks import (
    Callback,
    EarlyStopping,
    EpochScoring,
    History,
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
    "ProgressBar",
]
