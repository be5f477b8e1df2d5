"""How an estimator writes and reads its own state: the one mechanism behind pickling
and :mod:`bertfeat.persist`.

A class that mixes in :class:`Stateful` says what its fitted state is in
``_persist_state(store)`` and builds itself back in ``_from_persist_state(state, store)``.
The state holds data only: JSON values, numpy arrays, torch tensors (on the CPU), nested
estimators, and references to model folders that the ``store`` keeps. Two stores exist:

- :class:`PickleStore` (``pickle``/``joblib``/``copy.deepcopy``): trusted; model folders
  travel as bytes; every parameter is kept.
- ``bertfeat.persist``'s folder store: untrusted at load; model folders live inside the
  saved folder; parameters that name places on disk or code (:func:`is_location`) are
  never taken from the file, only from the caller.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bertfeat._store import fingerprint, read_model_files, restore_model_files

FITTED = re.compile(r"^[A-Za-z][A-Za-z0-9_]*_$")  # public fitted attributes: coef_, classes_
ALWAYS_PRIVATE = ("_sklearn_output_config",)  # set_output(transform="pandas")
# Parameters that name a place on disk or a code hook: cache_dir, Pipeline(memory=...),
# callbacks, and any future *_dir / *_path / *_file / *_folder.
_LOCATION = re.compile(r"(^|_)(dir|path|file|folder|memory|callbacks)$")


def is_location(name: str) -> bool:
    """True for a parameter that names a place on disk or a code hook."""
    return bool(_LOCATION.search(name))


def defaults(cls: type) -> dict[str, Any]:
    """``__init__`` defaults of ``cls`` (the safe value of a location parameter)."""
    params = inspect.signature(cls.__init__).parameters
    return {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}


def json_params(estimator, skip: tuple[str, ...] = ("model", "callbacks")) -> dict:
    """The parameters a saved folder's metadata keeps: those whose value survives JSON
    unchanged, less ``skip`` (the model, and objects such as callbacks or heads)."""
    params = {}
    for name, value in estimator.get_params(deep=False).items():
        if name in skip:
            continue
        try:
            if json.loads(json.dumps(value)) == value:
                params[name] = value
        except (TypeError, ValueError):
            pass
    return params


class PickleStore:
    """The store of a pickle: trusted, model folders as ``{file name: bytes}``."""

    trusted = True
    overrides: dict = {}

    @staticmethod
    def embed(store_weights: bool) -> bool:
        return bool(store_weights)

    @staticmethod
    def put(folder: Path) -> dict:
        return {"files": read_model_files(Path(folder)), "fingerprint": fingerprint(Path(folder))}

    @staticmethod
    @contextlib.contextmanager
    def open(ref: dict, lasting: bool) -> Iterator[Path]:
        """The files as a folder: kept under ``models_home()`` when ``lasting`` (a model
        read lazily later), else a temporary folder removed after use."""
        if lasting:
            yield restore_model_files(ref["files"], ref["fingerprint"])
            return
        with tempfile.TemporaryDirectory(prefix="bertfeat-state-") as tmp:
            for name, data in ref["files"].items():
                (Path(tmp) / name).write_bytes(data)
            found = fingerprint(Path(tmp))
            if found != ref["fingerprint"]:
                raise ValueError(
                    f"the model files stored in this pickle do not match their fingerprint "
                    f"{ref['fingerprint'][:16]}... (found {found[:16]}...): the pickle is damaged"
                )
            yield Path(tmp)


def sklearn_state(estimator, private: tuple[str, ...] = (), store=PickleStore) -> dict:
    """``get_params(deep=False)`` and the fitted attributes (public ``*_`` plus ``private``).

    For an untrusted store, parameters that name places or code are written as their
    defaults: a saved folder never carries them (the loading machine decides them).
    """
    params = estimator.get_params(deep=False)
    if not store.trusted:
        safe = defaults(type(estimator))
        params = {k: safe.get(k) if is_location(k) else v for k, v in params.items()}
    params = {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in params.items()}
    names = [k for k in vars(estimator) if FITTED.match(k)]
    names += [k for k in (*private, *ALWAYS_PRIVATE) if k in vars(estimator)]
    return {"params": params, "fitted": {k: vars(estimator)[k] for k in names}}


def checked_params(cls: type, params: dict, store=PickleStore) -> dict:
    """Saved parameters, refusing unknown names and (untrusted) places or code hooks
    other than their defaults; the caller's ``store.overrides`` win."""
    allowed = set(cls._get_param_names())
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(
            f"{cls.__name__} has no parameter {', '.join(map(repr, unknown))} (allowed: {sorted(allowed)})"
        )
    if not store.trusted:
        safe = defaults(cls)
        for name, value in params.items():
            if is_location(name) and value != safe.get(name):
                raise ValueError(
                    f"refusing {cls.__name__}({name}={value!r}) from the saved folder: a parameter that names "
                    f"a place on disk or code is never taken from a file; pass it to the loader instead, "
                    f"e.g. persist.load(folder, {name}=...)"
                )
    return {**params, **{k: v for k, v in store.overrides.items() if k in allowed}}


def sklearn_from_state(cls: type, state: dict, private: tuple[str, ...] = (), store=PickleStore):
    """Build ``cls(**params)`` and set its fitted attributes, refusing unknown names."""
    params = checked_params(cls, dict(state.get("params", {})), store)
    estimator = cls(**params)
    for key, value in state.get("fitted", {}).items():
        if not (FITTED.match(key) or key in private or key in ALWAYS_PRIVATE):
            raise ValueError(f"{cls.__name__}: refusing to set attribute {key!r} (not a fitted attribute)")
        setattr(estimator, key, value)
    return estimator


class Stateful:
    """Pickling through the class's own state: the one the persist folder also holds.

    Subclasses set ``_PRIVATE_STATE`` (private attributes that are fitted state) and
    may extend ``_persist_state`` / ``_from_persist_state`` for what is not a plain
    value (a torch module, model files).
    """

    _PRIVATE_STATE: tuple[str, ...] = ()
    # Kept by a pickle only: scikit-learn's metadata routing requests (not data).
    _PICKLE_ONLY = ("_metadata_request",)

    def _persist_state(self, store=PickleStore) -> dict:
        return sklearn_state(self, self._PRIVATE_STATE, store)

    @classmethod
    def _from_persist_state(cls, state: dict, store=PickleStore):
        return sklearn_from_state(cls, state, cls._PRIVATE_STATE, store)

    def __getstate__(self):
        state = self._persist_state(PickleStore)
        state["pickle_only"] = {k: vars(self)[k] for k in self._PICKLE_ONLY if k in vars(self)}
        return state

    def __setstate__(self, state):
        state = dict(state)
        extra = state.pop("pickle_only", {})
        built = type(self)._from_persist_state(state, PickleStore)
        self.__dict__.update(vars(built))
        self.__dict__.update(extra)
