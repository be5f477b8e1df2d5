"""The one training loop of bertfeat and its callbacks.

- ``loop.py``: the loop (batches, optimizer steps, validation pass), the optimizer;
- ``data.py``: training data that knows its batches and forward pass (token rows for
  the fine-tuned transformers, a float matrix for the MLP heads);
- ``callbacks.py``: behaviour around the loop (scoring, early stopping, history,
  progress, log) and the named-callback parameters (``callbacks__<name>__<param>``).

Importing this package loads no torch: only the callbacks are imported here.
"""

from bertfeat.training.callbacks import (
    Callback,
    CallbackParamsMixin,
    EarlyStopping,
    EpochScoring,
    History,
    PrintLog,
    ProgressBar,
    named_callbacks,
)

__all__ = [
    "Callback",
    "CallbackParamsMixin",
    "EarlyStopping",
    "EpochScoring",
    "History",
    "PrintLog",
    "ProgressBar",
    "named_callbacks",
]
