"""Saving, loading and pickling a fitted :class:`ContrastiveClassifier`.

``save_pretrained`` writes a sentence-transformers folder: the tuned encoder as a
standard Hugging Face folder (config, safetensors, tokenizer) plus ``modules.json``,
``1_Pooling/config.json``, ``sentence_bert_config.json`` and
``config_sentence_transformers.json`` as sentence-transformers writes them (Transformer
then Pooling, no Normalize: its vectors are the estimator's ``transform``). So
``BertVectorizer(model=folder)`` and ``SentenceTransformer(folder)`` both load it. The
head is saved beside them with :mod:`bertfeat.persist` (``bertfeat_head/``, no pickle),
and the estimator's metadata in ``bertfeat_contrastive.json``.

A pickle (or a ``persist`` folder) holds the encoder's model files, never a raw torch
module, so a model fitted on a GPU loads on a CPU-only machine.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from bertfeat._state import PickleStore, Stateful, json_params, sklearn_from_state, sklearn_state
from bertfeat._store import load_module, load_tokenizer, model_info, quiet_transformers, resolve_model_path

META_FILE = "bertfeat_contrastive.json"
HEAD_FOLDER = "bertfeat_head"
# The sentence-transformers version whose file layout these files follow (2.x; read by 2.x to 5.x).
_ST_VERSIONS = {"sentence_transformers": "2.2.2", "transformers": "4.30.0", "pytorch": "2.0.0"}


def pooling_config(pooling: str, hidden_size: int) -> dict:
    """``1_Pooling/config.json``: one of sentence-transformers' pooling modes."""
    return {
        "word_embedding_dimension": int(hidden_size),
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": pooling == "max",
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    }


def _write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")


def write_encoder_folder(module, tokenizer, folder: Path, pooling: str, max_length: int) -> None:
    """The tuned encoder as a Hugging Face + sentence-transformers folder."""
    folder.mkdir(parents=True, exist_ok=True)
    with quiet_transformers():
        module.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    _write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ])  # fmt: skip
    _write_json(folder / "1_Pooling" / "config.json", pooling_config(pooling, module.config.hidden_size))
    # do_lower_case stays False: the tokenizer applies its own casing rules (as the files of
    # all-MiniLM-L6-v2 say); True would lowercase the text of a cased model too.
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": int(max_length), "do_lower_case": False})
    _write_json(folder / "config_sentence_transformers.json", {
        "__version__": _ST_VERSIONS, "prompts": {}, "default_prompt_name": None, "similarity_fn_name": "cosine",
    })  # fmt: skip


def read_encoder_folder(folder: Path):
    """``(module, tokenizer, info)`` of a saved encoder, through the model store."""
    module = load_module(folder, "encoder").eval()
    tokenizer = load_tokenizer(folder)
    return module, tokenizer, model_info(module.config, module, tokenizer)


class ContrastiveExportMixin(Stateful):
    """``save_pretrained`` / ``from_pretrained`` and the state behind pickling and
    :mod:`bertfeat.persist`."""

    def _meta(self) -> dict:
        params = json_params(self, skip=("model", "head", "callbacks"))
        names = getattr(self, "feature_names_in_", None)
        return {
            "estimator": type(self).__name__,
            "params": params,
            "classes": self.classes_.tolist(),
            "n_features_in": int(self.n_features_in_),
            "feature_names_in": None if names is None else [str(c) for c in names],
            "max_length": int(self.max_length_),
            "history": self.history_,
            "n_pairs": int(self.n_pairs_),
        }

    def save_pretrained(self, folder) -> None:
        """Write the tuned encoder as a sentence-transformers folder, with the head.

        ``SentenceTransformer(folder).encode(texts)`` and
        ``BertVectorizer(model=folder, pooling=...)`` give :meth:`transform`'s vectors;
        :meth:`from_pretrained` rebuilds this classifier (encoder and head).
        """
        from bertfeat import persist

        check_is_fitted(self, "head_")
        folder = Path(folder)
        write_encoder_folder(self._module, self._tokenizer, folder, self.pooling, self.max_length_)
        persist.save(self.head_, folder / HEAD_FOLDER, overwrite=True)
        _write_json(folder / META_FILE, self._meta())

    @classmethod
    def from_pretrained(cls, folder, **params):
        """A fitted classifier from a folder written by :meth:`save_pretrained`.

        ``params`` override the saved parameters (e.g. ``device="cpu"``). A
        sentence-transformers folder without a head is refused: fit a classifier on it
        instead (``ContrastiveClassifier(model=folder).fit(X, y)``).
        """
        from bertfeat import persist

        path = resolve_model_path(folder)
        if not (path / META_FILE).is_file() or not (path / HEAD_FOLDER).is_dir():
            raise ValueError(
                f"{str(path)!r} holds no {cls.__name__} (no {META_FILE} and {HEAD_FOLDER}/); to train one on "
                f"this encoder use {cls.__name__}(model={str(path)!r}).fit(X, y)"
            )
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        saved = {k: v for k, v in meta.get("params", {}).items() if k in cls._get_param_names()}
        estimator = cls(**{**saved, "model": str(path), **params})
        estimator._check_params()
        estimator._module, estimator._tokenizer, estimator._info = read_encoder_folder(path)
        estimator.head_ = persist.load(path / HEAD_FOLDER)
        estimator.classes_ = np.asarray(meta["classes"])
        estimator.model_path_ = str(path)
        estimator.n_features_in_ = int(meta.get("n_features_in", 1))
        if meta.get("feature_names_in") is not None:
            estimator.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
        estimator.max_length_ = int(meta["max_length"])
        estimator.history_ = list(meta.get("history", []))
        estimator.n_iter_ = len(estimator.history_)
        estimator.n_pairs_ = int(meta.get("n_pairs", 0))
        estimator.n_features_out_ = estimator._info["hidden_size"]
        return estimator

    # -- state: pickling and bertfeat.persist (bertfeat._state) ----------------------
    def _persist_state(self, store=PickleStore) -> dict:
        state = sklearn_state(self, (), store)
        if getattr(self, "_module", None) is not None:
            with tempfile.TemporaryDirectory(prefix="bertfeat-contrastive-") as tmp:
                write_encoder_folder(self._module, self._tokenizer, Path(tmp), self.pooling, self.max_length_)
                state["model_files"] = store.put(Path(tmp))
        return state

    @classmethod
    def _from_persist_state(cls, state: dict, store=PickleStore):
        estimator = sklearn_from_state(cls, state, (), store)
        ref = state.get("model_files")
        if ref is None and not store.trusted:
            raise ValueError(f"{cls.__name__}: the saved folder holds no tuned encoder; refusing to load it")
        if ref is not None:
            # A persist folder keeps the files (the folder is the model); a pickle's are
            # read from a temporary folder.
            with store.open(ref, lasting=not store.trusted) as folder:
                estimator._module, estimator._tokenizer, estimator._info = read_encoder_folder(folder)
                if not store.trusted:
                    estimator.model = estimator.model_path_ = str(folder)
        return estimator
