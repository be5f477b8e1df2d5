"""The saved state of an estimator that reads a frozen encoder named by ``model=``
(``BertVectorizer``, ``FrozenTokenClassifier``): what a pickle or a ``persist`` folder holds,
the encoder's files inside it when asked, and the check that the model files are still the
ones it was fitted on.

A mixin so that the estimators keep to parameters and the path of a vector; the one way to
save (``bertfeat/_state.py``) calls these two methods.
"""

from __future__ import annotations

import os

from bertfeat._state import PickleStore, Stateful, sklearn_from_state, sklearn_state
from bertfeat._store import fingerprint, resolve_model_path


def same_model(a, b) -> bool:
    """Whether two ``model=`` values name the same model (a path given as str or Path)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (str, os.PathLike)) and isinstance(b, (str, os.PathLike)):
        return os.fspath(a) == os.fspath(b)
    return a == b


class EncoderState(Stateful):
    """Saving, restoring and the model-files check of an estimator fitted on ``model``.

    Subclasses say which fitted attributes a saved state may set (``_fitted_names``; None:
    any), whether the encoder's files go inside by default (``_embeds_model``), and how to
    keep them there (``_keep_files_hint``, said when they are gone)."""

    _fitted_names: tuple | None = None
    _keep_files_hint = "persist.save(..., include_model=True) keeps them inside the saved folder"

    def _embeds_model(self) -> bool:
        """Whether the encoder's files go inside a pickle or folder unless told otherwise."""
        return False

    def _model_source(self):
        """Where the weights come from: files restored from a pickle or a saved folder
        while ``model`` is still the one they were stored for, else ``model``."""
        restored = getattr(self, "_restored_dir", None)
        if restored is not None and same_model(getattr(self, "_restored_for", None), self.model):
            return restored
        return self.model

    def _forget_restored_files(self) -> None:
        if not same_model(getattr(self, "_restored_for", None), self.model):
            # files restored for another model: fitting model=... must read model=...
            self.__dict__.pop("_restored_dir", None)
            self.__dict__.pop("_restored_for", None)

    def _check_fingerprint_if_cold(self) -> None:
        """After unpickling, the model files must be the ones seen at fit, even if the cache
        would answer every text: a cache hit must never hide a changed model."""
        if getattr(self, "_loaded", None) is not None:
            return
        try:
            folder = resolve_model_path(self._model_source())
        except OSError as exc:  # folder gone (or a Hub id out of reach): say what was expected
            raise type(exc)(
                f"{exc}. This {type(self).__name__} was fitted on the model files with fingerprint "
                f"{self.model_fingerprint_[:16]}... loaded from {self.model_path_!r}: put them back, "
                f"or refit ({self._keep_files_hint})"
            ) from exc
        found = fingerprint(folder)
        if found != self.model_fingerprint_:
            raise ValueError(
                f"the model files at {str(folder)!r} changed since this {type(self).__name__} was fitted "
                f"(fingerprint {found[:16]}..., expected {self.model_fingerprint_[:16]}...); "
                "refit it, or restore the original model folder"
            )

    def _persist_state(self, store=PickleStore) -> dict:
        """Parameters, the fitted form and the model's fingerprint; the model files too
        when the store embeds them."""
        state = sklearn_state(self, (), store)
        if self._fitted_names is not None:
            state["fitted"] = {k: v for k, v in state["fitted"].items() if k in self._fitted_names or k.startswith("_")}
        if "model_fingerprint_" in vars(self) and store.embed(self._embeds_model()):
            ref = store.put(resolve_model_path(self._model_source()))
            if ref["fingerprint"] != self.model_fingerprint_:
                raise ValueError(
                    f"the model files at {self.model_path_!r} changed since the {type(self).__name__} was fitted "
                    f"(expected fingerprint {self.model_fingerprint_[:16]}...); refit before saving"
                )
            state["model_files"] = ref
        return state

    @classmethod
    def _from_persist_state(cls, state: dict, store=PickleStore):
        fitted = dict(state.get("fitted", {}))
        allowed = cls._fitted_names
        unknown = [] if allowed is None else sorted(k for k in fitted if k not in allowed and not k.startswith("_"))
        if unknown:
            raise ValueError(f"{cls.__name__}: refusing to set attribute(s) {unknown} (not fitted attributes)")
        saved_model = state.get("params", {}).get("model")
        estimator = sklearn_from_state(cls, {**state, "fitted": fitted}, (), store)
        ref = state.get("model_files")
        if ref is not None:
            with store.open(ref, lasting=True) as folder:
                if ref.get("fingerprint") != estimator.model_fingerprint_:
                    raise ValueError(f"{cls.__name__}: the embedded model files are not the ones it was fitted on")
                estimator._restored_dir, estimator._restored_for = str(folder), saved_model
                estimator.model_path_ = str(folder)
        if not store.trusted and "model_fingerprint_" in vars(estimator):
            if ref is None and saved_model is not None and "model" not in store.overrides:
                raise ValueError(
                    f"refusing to read the model at {saved_model!r}, named by the saved folder: model files "
                    "come only from inside the folder or from a folder you name. Pass "
                    f"persist.load(folder, model={saved_model!r}) if you trust that location, or save with "
                    "include_model=True"
                )
            estimator._check_fingerprint_if_cold()
            estimator.model_path_ = str(resolve_model_path(estimator._model_source()))  # the folder checked, not the file's word
        return estimator
