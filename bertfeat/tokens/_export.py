"""A fitted :class:`~bertfeat.tokens.FineTuneTokenClassifier` as a standard Hugging Face
token-classification folder (``id2label`` / ``label2id``, safetensors, tokenizer), and
back. Pickling and :mod:`bertfeat.persist` hold the same folder (through
:class:`bertfeat.finetune.export.ExportMixin`'s state, with this head class).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from bertfeat._state import json_params
from bertfeat._store import model_info, resolve_model_path
from bertfeat.finetune.export import ExportMixin
from bertfeat.finetune.hf import load_saved, save_folder

HEAD = "token-classification"


class TokenExportMixin(ExportMixin):
    """``save_pretrained`` / ``from_pretrained`` for a token-classification model."""

    _HEAD = HEAD

    def _meta(self) -> dict:
        """What :meth:`from_pretrained` needs beyond the Hugging Face config (JSON only)."""
        return {
            "estimator": type(self).__name__,
            "params": json_params(self),
            "max_length": self.max_length_,
            "history": self.history_,
            "best_epoch": self.best_epoch_,
            "classes": self.classes_.tolist(),
        }

    def save_pretrained(self, folder) -> None:
        """Write a standard Hugging Face token-classification folder: ``config.json``
        (``id2label`` / ``label2id``), ``model.safetensors`` and the tokenizer files.

        ``AutoModelForTokenClassification.from_pretrained(folder)`` loads it and
        :meth:`from_pretrained` rebuilds this estimator.
        """
        check_is_fitted(self, "classes_")
        save_folder(self._module, self._tokenizer, Path(folder), self._meta())

    @classmethod
    def from_pretrained(cls, folder, **params):
        """A fitted estimator from a folder written by :meth:`save_pretrained`, or any
        Hugging Face token-classification folder (tags from its ``id2label``).

        ``params`` override the saved parameters (e.g. ``device="cpu"``, or
        ``max_length`` / ``stride`` to read with other windows).
        """
        path = resolve_model_path(folder)
        module, tokenizer, meta = load_saved(path, cls._HEAD)
        saved = {k: v for k, v in meta.get("params", {}).items() if k in cls._get_param_names()}
        estimator = cls(**{**saved, "model": str(path), **params})
        estimator._check_params()
        info = model_info(module.config, module.base_model, tokenizer)
        if "classes" in meta:
            estimator.classes_ = np.asarray(meta["classes"], dtype=str)
        else:
            estimator.classes_ = np.asarray([module.config.id2label[i] for i in range(module.config.num_labels)], dtype=str)
        estimator._module, estimator._tokenizer, estimator._info = module, tokenizer, info
        estimator.model_path_ = str(path)
        if meta.get("max_length") and "max_length" not in params:
            estimator.max_length_ = int(meta["max_length"])
        else:  # another window size asked for (or a folder from elsewhere): checked against the model
            estimator._resolve_lengths(info, tokenizer)
        estimator.history_ = list(meta.get("history", []))
        estimator.n_iter_ = len(estimator.history_)
        estimator.best_epoch_ = meta.get("best_epoch")
        estimator.validation_index_ = np.zeros(0, dtype=np.int64)
        return estimator
