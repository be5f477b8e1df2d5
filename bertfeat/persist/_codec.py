"""Values to JSON plus named arrays, and back: what a state may hold and nothing else.

JSON values are written as they are; what JSON lacks becomes a tagged object
(``{"__array__": name}``, ``{"__tensor__": name}``, ``{"__values__": ...}``,
``{"__scalar__": ...}``, ``{"__tuple__": ...}``, ``{"__dict__": ...}``,
``{"__float__": "nan"}``, ``{"__estimator__": type, "state": ...}``). Any other tag,
and any type that is not registered, is refused.
"""

from __future__ import annotations

import math
import os

import numpy as np

from bertfeat._state import PickleStore, checked_params
from bertfeat.persist._registry import _registry, handler_for, registered_types, type_name

MANIFEST = "bertfeat.json"
ARRAYS = "arrays.safetensors"
PIPELINE = "sklearn.pipeline.Pipeline"


class Writer:
    """Encodes values; arrays and tensors are collected in ``arrays`` by name."""

    def __init__(self, store=PickleStore):
        self.arrays: dict[str, np.ndarray] = {}
        self.store = store

    def _store(self, path: str, array: np.ndarray) -> str:
        key, n = path, 1
        while key in self.arrays:  # keys holding dots can make two paths alike
            key, n = f"{path}#{n}", n + 1
        self.arrays[key] = _c_array(array)
        return key

    def encode(self, value, path: str):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if isinstance(value, np.generic) and value.dtype.kind in "biuf":
            return {"__scalar__": self.encode(value.item(), path), "dtype": value.dtype.str}
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if isinstance(value, (list, tuple)):
            items = [self.encode(v, f"{path}.{i}") for i, v in enumerate(value)]
            return items if isinstance(value, list) else {"__tuple__": items}
        if isinstance(value, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in value):  # plain JSON object
                return {k: self.encode(v, f"{path}.{k}") for k, v in value.items()}
            return {
                "__dict__": [
                    [self.encode(k, f"{path}.key{i}"), self.encode(v, f"{path}.{i}")]
                    for i, (k, v) in enumerate(value.items())
                ]
            }
        if isinstance(value, np.ndarray):
            return self._array(value, path)
        if type(value).__module__.split(".")[0] == "torch" and type(value).__name__ in ("Tensor", "Parameter"):
            array = value.detach().cpu()
            if str(array.dtype) == "torch.bfloat16":
                raise TypeError(f"{path}: bfloat16 tensors are not stored; convert to float32 first")
            return {"__tensor__": self._store(path, array.numpy())}
        if handler_for(value) is not None or _is_pipeline(value):
            return self.estimator(value, path)
        raise TypeError(
            f"cannot save {path} = {type(value).__name__} {value!r:.60}: only JSON values, numpy arrays, torch "
            f"tensors and registered estimators are stored ({', '.join(registered_types())})"
        )

    def _array(self, value: np.ndarray, path: str):
        if value.dtype.kind in "biuf":
            return {"__array__": self._store(path, value)}
        if value.dtype.kind in "UO":
            items = [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value.ravel().tolist())]
            if any(isinstance(v, dict) for v in items):
                raise TypeError(f"cannot save {path}: an object array may hold only None, bool, int, float, str")
            return {
                "__values__": items,
                "dtype": "object" if value.dtype.kind == "O" else value.dtype.str,
                "shape": list(value.shape),
            }
        raise TypeError(f"cannot save {path}: arrays of dtype {value.dtype} are not supported")

    def estimator(self, estimator, path: str) -> dict:
        if _is_pipeline(estimator):
            params = estimator.get_params(deep=False)
            steps = params.pop("steps")
            if not self.store.trusted:  # memory: a folder of pickles on the loading machine
                params["memory"] = None
            for _, step in steps:
                if step is None or step == "passthrough":
                    raise TypeError(f"{path}: 'passthrough' steps are not supported; drop the step")
            return {
                "__estimator__": PIPELINE,
                "params": self.encode(params, f"{path}.params"),
                "steps": [[name, self.estimator(step, f"{path}.{name}")] for name, step in steps],
            }
        found = handler_for(estimator)
        if found is None:
            raise TypeError(
                f"cannot save {path}: {type_name(type(estimator))} is not a registered type "
                f"(known: {', '.join(registered_types())}); see bertfeat.persist.register"
            )
        name, handler = found
        return {"__estimator__": name, "state": self.encode(handler.to_state(estimator, self.store), f"{path}.state")}


class Reader:
    """Decodes what :class:`Writer` wrote, building only registered types."""

    def __init__(self, arrays: dict[str, np.ndarray], store=PickleStore):
        self.arrays = arrays
        self.used: set[str] = set()
        self.store = store

    def _take(self, key) -> np.ndarray:
        if not isinstance(key, str) or key not in self.arrays:
            raise ValueError(f"{ARRAYS} has no array {key!r} that {MANIFEST} refers to")
        self.used.add(key)
        return self.arrays[key]

    def decode(self, value):
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, list):
            return [self.decode(v) for v in value]
        if not isinstance(value, dict):
            raise ValueError(f"unexpected value in {MANIFEST}: {value!r:.80}")
        tags = [k for k in value if k.startswith("__")]
        if not tags:  # a plain JSON object: a dict with string keys
            return {k: self.decode(v) for k, v in value.items()}
        if len(tags) != 1:
            raise ValueError(f"unexpected value in {MANIFEST}: {value!r:.80}")
        tag = tags[0]
        if tag == "__float__" and value[tag] in ("nan", "inf", "-inf"):
            return float(value[tag])
        if tag == "__scalar__":
            return np.dtype(_numeric_dtype(value["dtype"])).type(self.decode(value[tag]))
        if tag == "__tuple__":
            return tuple(self.decode(v) for v in _list(value[tag]))
        if tag == "__dict__":
            return {_hashable(self.decode(k)): self.decode(v) for k, v in _list(value[tag])}
        if tag == "__array__":
            return self._take(value[tag]).copy()
        if tag == "__tensor__":
            import torch

            return torch.from_numpy(self._take(value[tag]).copy())
        if tag == "__values__":
            items = [self.decode(v) for v in _list(value[tag])]
            if any(not (v is None or isinstance(v, (bool, int, float, str))) for v in items):
                raise ValueError(f"{MANIFEST}: an array of values holds something other than JSON scalars")
            dtype = object if value["dtype"] == "object" else np.dtype(_text_dtype(value["dtype"]))
            out = np.empty(len(items), dtype=object)
            out[:] = items
            return out.astype(dtype).reshape([int(n) for n in value["shape"]])
        if tag == "__estimator__":
            return self.estimator(value)
        raise ValueError(f"{MANIFEST} holds an unknown tag {tag!r}; refusing to load")

    def estimator(self, doc):
        name = doc.get("__estimator__") if isinstance(doc, dict) else None
        if name == PIPELINE:
            from sklearn.pipeline import Pipeline

            params = self.decode(doc.get("params", {}))
            if not isinstance(params, dict) or "steps" in params:
                raise ValueError(f"{MANIFEST}: a Pipeline's parameters must be an object without 'steps'")
            params = checked_params(Pipeline, params, self.store)
            steps = [(str(step_name), self.estimator(step)) for step_name, step in _list(doc.get("steps"))]
            return Pipeline(steps, **params)
        handler = _registry.get(name) if isinstance(name, str) else None
        if handler is None:
            raise ValueError(
                f"{MANIFEST} asks for type {name!r:.100}, which is not registered; refusing to load it. "
                f"Known types: {', '.join(registered_types())}"
            )
        state = self.decode(doc.get("state"))
        if not isinstance(state, dict):
            raise ValueError(f"{MANIFEST}: the state of {name} is not an object")
        return handler.from_state(state, self.store)


def _is_pipeline(value) -> bool:
    from sklearn.pipeline import Pipeline

    return type(value) is Pipeline


def _list(value) -> list:
    if not isinstance(value, list):
        raise ValueError(f"{MANIFEST}: expected a list, found {value!r:.80}")
    return value


def _c_array(value: np.ndarray) -> np.ndarray:
    """C-ordered, native byte order, shape kept (np.ascontiguousarray makes 0-d arrays 1-d)."""
    return np.array(value, dtype=value.dtype.newbyteorder("="), order="C", copy=True)


def _numeric_dtype(text) -> np.dtype:
    dtype = np.dtype(str(text))
    if dtype.kind not in "biuf":
        raise ValueError(f"{MANIFEST}: scalar dtype {text!r} is not numeric")
    return dtype


def _text_dtype(text) -> np.dtype:
    dtype = np.dtype(str(text))
    if dtype.kind != "U" or dtype.itemsize > 1 << 20:
        raise ValueError(f"{MANIFEST}: value array dtype {text!r} is not text of a sane width")
    return dtype


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key
