"""Saving, loading and pickling a fitted fine-tuning estimator.

A fitted estimator is a Hugging Face sequence-classification folder plus a little
metadata (classes, input form, parameters, history) kept in its ``config.json``:
``save_pretrained`` writes that folder, ``from_pretrained`` reads it back, and a pickle
holds the same folder as bytes instead of a raw torch model.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from bertfeat._state import PickleStore, Stateful, json_params, sklearn_from_state, sklearn_state
from bertfeat._store import model_info, resolve_model_path
from bertfeat.finetune.hf import HEAD, load_saved, save_folder


class ExportMixin(Stateful):
    """``save_pretrained`` / ``from_pretrained`` and the state behind pickling and
    :mod:`bertfeat.persist` for :class:`FineTuneBase` (and, for its pickling and
    persist state, :class:`bertfeat.tokens.FineTuneTokenClassifier`)."""

    _HEAD = HEAD  # the head class of the saved folder (bertfeat._store.HEADS)

    # -- Hugging Face folders ---------------------------------------------------------
    def _meta(self) -> dict:
        """What ``from_pretrained`` needs beyond the Hugging Face config (JSON only)."""
        params = json_params(self)
        names = getattr(self, "feature_names_in_", None)
        return {
            "estimator": type(self).__name__,
            "params": params,
            "n_features_in": self.n_features_in_,
            "feature_names_in": None if names is None else [str(c) for c in names],
            "max_length": self.max_length_,
            "history": self.history_,
            "best_epoch": self.best_epoch_,
            **self._target_meta(),
        }

    def save_pretrained(self, folder) -> None:
        """Write a standard Hugging Face folder: ``config.json`` (with ``id2label``),
        ``model.safetensors`` and the tokenizer files.

        ``AutoModelForSequenceClassification.from_pretrained(folder)`` loads it,
        :meth:`from_pretrained` rebuilds this estimator, and
        ``BertVectorizer(model=folder)`` reads its fine-tuned encoder.
        """
        check_is_fitted(self, "n_features_in_")
        save_folder(self._module, self._tokenizer, Path(folder), self._meta())

    @classmethod
    def from_pretrained(cls, folder, **params):
        """A fitted estimator from a folder written by :meth:`save_pretrained` (or any
        Hugging Face sequence-classification folder of the right problem type).

        ``params`` override the saved parameters (e.g. ``device="cpu"``). Folders
        without bertfeat's metadata are read as single-text models.
        """
        path = resolve_model_path(folder)
        module, tokenizer, meta = load_saved(path, cls._HEAD)
        problem = module.config.problem_type
        if problem is not None and problem not in cls._PROBLEM_TYPES:
            raise ValueError(f"{str(path)!r} holds a {problem!r} model; {cls.__name__} reads {cls._PROBLEM_TYPES}")
        saved = {k: v for k, v in meta.get("params", {}).items() if k in cls._get_param_names()}
        estimator = cls(**{**saved, "model": str(path), **params})
        estimator._check_params()
        info = model_info(module.config, module.base_model, tokenizer)
        estimator._restore_targets(module.config, meta)
        estimator._module, estimator._tokenizer, estimator._info = module, tokenizer, info
        estimator.model_path_ = str(path)
        estimator.n_features_in_ = int(meta.get("n_features_in", 1))
        if meta.get("feature_names_in") is not None:
            estimator.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
        estimator.max_length_ = int(meta.get("max_length") or min(info["max_length"], estimator.max_length or 512))
        estimator.history_ = list(meta.get("history", []))
        estimator.n_iter_ = len(estimator.history_)
        estimator.best_epoch_ = meta.get("best_epoch")
        estimator.validation_index_ = np.zeros(0, dtype=np.int64)
        estimator.n_features_out_ = info["hidden_size"]
        return estimator

    # -- state: pickling and bertfeat.persist (bertfeat._state) ----------------------
    # The torch model is never pickled raw: the fine-tuned Hugging Face folder goes to the
    # store (bytes in a pickle, a folder inside a persist folder), so a model fitted on a
    # GPU loads on a CPU-only machine (with device="auto"; an explicit device="cuda"
    # there needs set_params(device="cpu")).
    _PRIVATE_STATE = ("_y_1d",)

    def _persist_state(self, store=PickleStore) -> dict:
        state = sklearn_state(self, self._PRIVATE_STATE, store)
        if getattr(self, "_module", None) is not None:
            from bertfeat.finetune.hf import save_folder

            with tempfile.TemporaryDirectory(prefix="bertfeat-ft-") as tmp:
                save_folder(self._module, self._tokenizer, Path(tmp), self._meta())
                state["model_files"] = store.put(Path(tmp))
        return state

    @classmethod
    def _from_persist_state(cls, state: dict, store=PickleStore):
        estimator = sklearn_from_state(cls, state, cls._PRIVATE_STATE, store)
        ref = state.get("model_files")
        if ref is None and not store.trusted:
            raise ValueError(f"{cls.__name__}: the saved folder holds no fine-tuned model; refusing to load it")
        if ref is not None:
            # A persist folder keeps the files (the folder is the model); a pickle's are
            # read from a temporary folder.
            with store.open(ref, lasting=not store.trusted) as folder:
                module, tokenizer, _ = load_saved(folder, cls._HEAD)
                if not store.trusted:
                    estimator.model = estimator.model_path_ = str(folder)  # refits continue from it
            estimator._module, estimator._tokenizer = module, tokenizer
            estimator._info = model_info(module.config, module.base_model, tokenizer)
        return estimator
