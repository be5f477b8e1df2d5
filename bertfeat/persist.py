"""Save and load fitted pipelines without pickle: settings as JSON, arrays as safetensors.

``pickle``/``joblib`` run code while loading, so a model file from elsewhere is a program
you execute. :func:`load` reads only data: a JSON manifest and one safetensors file, and
it builds nothing but the types registered here. Unknown types, unknown parameters,
damaged or modified array files are refused with an error naming them.

Folder layout (format ``bertfeat.persist``, version 1)::

    folder/
      bertfeat.json        what to build: types, parameters, fitted attributes, digests
      arrays.safetensors   every numpy array and torch tensor, by name
      models/<fp>/         optional: the encoder's files (config, weights, tokenizer),
                           checked against the fingerprint recorded at fit

Example
-------
>>> from bertfeat import persist                          # doctest: +SKIP
>>> persist.save(pipe, "sentiment-model")                 # doctest: +SKIP
>>> pipe = persist.load("sentiment-model")                # doctest: +SKIP

A head type makes itself persistable with :func:`register`, giving two functions::

    register(MyHead, to_state, from_state)
    # to_state(est) -> dict of JSON values, numpy arrays, torch tensors and nested
    #                  registered estimators (any depth);
    # from_state(state) -> a fitted estimator, from that dict as it was saved.

scikit-learn style estimators whose fitted state is their public ``*_`` attributes need
only :func:`register_sklearn`.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bertfeat._store import file_sha256, fingerprint, model_files

FORMAT = "bertfeat.persist"
VERSION = 1
MANIFEST = "bertfeat.json"
ARRAYS = "arrays.safetensors"
MODELS = "models"
_FITTED = re.compile(r"^[A-Za-z][A-Za-z0-9_]*_$")  # public fitted attributes: coef_, classes_
_ALWAYS_PRIVATE = ("_sklearn_output_config",)  # set_output(transform="pandas")


@dataclass(frozen=True)
class _Handler:
    cls: type
    to_state: Callable[[Any], dict]
    from_state: Callable[[dict], Any]


_registry: dict[str, _Handler] = {}


def type_name(cls: type) -> str:
    """Public dotted name: ``sklearn.linear_model.LogisticRegression``."""
    module = ".".join(p for p in cls.__module__.split(".") if not p.startswith("_"))
    return f"{module}.{cls.__qualname__}"


def register(
    cls: type, to_state: Callable[[Any], dict], from_state: Callable[[dict], Any], name: str | None = None
) -> None:
    """Make ``cls`` savable by :func:`save` and buildable by :func:`load`.

    ``to_state(estimator)`` returns a dict whose values are JSON values (None, bool, int,
    float, str, lists, tuples, dicts), numpy arrays, torch tensors, or registered
    estimators, nested at any depth. ``from_state(state)`` gets that dict back (arrays as
    numpy, tensors as torch) and returns the fitted estimator; it must build the estimator
    from data only.
    """
    _registry[name or type_name(cls)] = _Handler(cls, to_state, from_state)


def registered_types() -> list[str]:
    _register_builtins()
    return sorted(_registry)


def _name_of(estimator) -> str | None:
    for name, handler in _registry.items():
        if type(estimator) is handler.cls:
            return name
    return None


# -- the generic scikit-learn handler ------------------------------------------------------
def sklearn_state(estimator, private: tuple[str, ...] = ()) -> dict:
    """``get_params(deep=False)`` and the fitted attributes (public ``*_`` plus ``private``)."""
    names = [k for k in vars(estimator) if _FITTED.match(k)]
    names += [k for k in (*private, *_ALWAYS_PRIVATE) if k in vars(estimator)]
    return {"params": estimator.get_params(deep=False), "fitted": {k: vars(estimator)[k] for k in names}}


def sklearn_from_state(cls: type, state: dict, private: tuple[str, ...] = ()) -> Any:
    """Build ``cls(**params)`` and set its fitted attributes, refusing unknown names."""
    params, fitted = state.get("params", {}), state.get("fitted", {})
    allowed = set(cls._get_param_names())
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(
            f"{type_name(cls)} has no parameter {', '.join(map(repr, unknown))} (allowed: {sorted(allowed)})"
        )
    estimator = cls(**params)
    for key, value in fitted.items():
        if not (_FITTED.match(key) or key in private or key in _ALWAYS_PRIVATE):
            raise ValueError(f"{type_name(cls)}: refusing to set attribute {key!r} (not a fitted attribute)")
        setattr(estimator, key, value)
    return estimator


def register_sklearn(cls: type, private: tuple[str, ...] = (), name: str | None = None) -> None:
    """Register a scikit-learn style estimator (parameters + fitted ``*_`` attributes)."""
    register(cls, lambda est: sklearn_state(est, private), lambda state: sklearn_from_state(cls, state, private), name)


_builtins_done = False


def _register_builtins() -> None:
    global _builtins_done
    if _builtins_done:
        return
    from sklearn import linear_model as lm
    from sklearn import preprocessing as pre
    from sklearn import svm

    for cls in (
        lm.LogisticRegression,
        lm.LogisticRegressionCV,
        lm.LinearRegression,
        lm.Ridge,
        lm.RidgeCV,
        lm.Lasso,
        lm.ElasticNet,
        lm.SGDClassifier,
        lm.SGDRegressor,
        lm.Perceptron,
        svm.LinearSVC,
        svm.LinearSVR,
        pre.StandardScaler,
        pre.Normalizer,
        pre.LabelBinarizer,
    ):
        if type_name(cls) not in _registry:
            register_sklearn(cls)
    for cls in (lm.RidgeClassifier, lm.RidgeClassifierCV):  # predict reads _label_binarizer
        if type_name(cls) not in _registry:
            register_sklearn(cls, private=("_label_binarizer",))
    from bertfeat.heads import MLPHeadClassifier, MLPHeadRegressor
    from bertfeat.vectorizer import BertVectorizer

    _registry.setdefault(type_name(BertVectorizer), _Handler(BertVectorizer, _vectorizer_state, _vectorizer_from_state))
    for cls in (MLPHeadClassifier, MLPHeadRegressor):
        if type_name(cls) not in _registry:
            register(cls, _mlp_state, partial(_mlp_from_state, cls))
    _builtins_done = True


# -- MLP heads: parameters, fitted attributes, architecture and weights ---------------------
# The optimizer's moments are not kept: a loaded head predicts exactly; partial_fit on it
# starts a fresh optimizer.
_MLP_PRIVATE = ("_seed", "_arch", "_y_mean", "_y_scale")  # the regressor standardises targets


def _mlp_state(head) -> dict:
    state = sklearn_state(head, _MLP_PRIVATE)
    module = state["fitted"].pop("module_", None)
    state["fitted"]["_arch"] = list(head._arch) if module is not None else None
    state["weights"] = {k: v.detach().cpu() for k, v in module.state_dict().items()} if module is not None else {}
    return state


def _mlp_from_state(cls, state: dict):
    fitted = dict(state.get("fitted", {}))
    weights = state.get("weights", {})
    arch = fitted.pop("_arch", None)
    head = sklearn_from_state(cls, {"params": state.get("params", {}), "fitted": fitted}, _MLP_PRIVATE)
    if arch is not None:
        n_in, hidden, activation, dropout, n_out = arch
        head.__setstate__({**vars(head), "_arch": (n_in, tuple(hidden), activation, dropout, n_out), "module_": weights,
                           "_optimizer_state": None})
    return head


# -- BertVectorizer: parameters, fitted form, model reference + fingerprint ---------------
_VECTORIZER_FITTED = ("n_features_in_", "feature_names_in_", "model_path_", "model_fingerprint_", "n_features_out_")


def _vectorizer_state(vec) -> dict:
    params = vec.get_params(deep=False)
    for key in ("model", "cache_dir"):
        if isinstance(params[key], os.PathLike):
            params[key] = os.fspath(params[key])
    fitted = {k: getattr(vec, k) for k in _VECTORIZER_FITTED if hasattr(vec, k)}
    return {"params": params, "fitted": fitted, **{k: vars(vec)[k] for k in _ALWAYS_PRIVATE if k in vars(vec)}}


def _vectorizer_from_state(state: dict):
    from bertfeat.vectorizer import BertVectorizer

    fitted = dict(state.get("fitted", {}))
    unknown = sorted(set(fitted) - set(_VECTORIZER_FITTED))
    if unknown:
        raise ValueError(f"BertVectorizer: refusing to set attribute(s) {unknown} (not fitted attributes)")
    vec = sklearn_from_state(BertVectorizer, {"params": state.get("params", {}), "fitted": fitted})
    for key in _ALWAYS_PRIVATE:
        if key in state:
            setattr(vec, key, state[key])
    return vec


# -- values <-> JSON + arrays ---------------------------------------------------------------
class _Writer:
    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}

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
            return {"__path__": os.fspath(value)}
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
        name = _name_of(value)
        if name is not None:
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
        from sklearn.pipeline import Pipeline

        if type(estimator) is Pipeline:
            params = estimator.get_params(deep=False)
            steps = params.pop("steps")
            for _, step in steps:
                if step is None or step == "passthrough":
                    raise TypeError(f"{path}: 'passthrough' steps are not supported; drop the step")
            return {
                "__estimator__": "sklearn.pipeline.Pipeline",
                "params": self.encode(params, f"{path}.params"),
                "steps": [[name, self.estimator(step, f"{path}.{name}")] for name, step in steps],
            }
        name = _name_of(estimator)
        if name is None:
            raise TypeError(
                f"cannot save {path}: {type_name(type(estimator))} is not a registered type "
                f"(known: {', '.join(registered_types())}); see bertfeat.persist.register"
            )
        state = _registry[name].to_state(estimator)
        return {"__estimator__": name, "state": self.encode(state, f"{path}.state")}


class _Reader:
    def __init__(self, arrays: dict[str, np.ndarray]):
        self.arrays = arrays
        self.used: set[str] = set()

    def _take(self, key: str) -> np.ndarray:
        if key not in self.arrays:
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
        if tag == "__path__":
            return str(value[tag])
        if tag == "__tuple__":
            return tuple(self.decode(v) for v in value[tag])
        if tag == "__dict__":
            return {_hashable(self.decode(k)): self.decode(v) for k, v in value[tag]}
        if tag == "__array__":
            return self._take(value[tag]).copy()
        if tag == "__tensor__":
            import torch

            return torch.from_numpy(self._take(value[tag]).copy())
        if tag == "__values__":
            items = [self.decode(v) for v in value[tag]]
            if any(not (v is None or isinstance(v, (bool, int, float, str))) for v in items):
                raise ValueError(f"{MANIFEST}: an array of values holds something other than JSON scalars")
            dtype = object if value["dtype"] == "object" else np.dtype(_text_dtype(value["dtype"]))
            out = np.empty(len(items), dtype=object)
            out[:] = items
            return out.astype(dtype).reshape([int(n) for n in value["shape"]])
        if tag == "__estimator__":
            return self.estimator(value)
        raise ValueError(f"{MANIFEST} holds an unknown tag {tag!r}; refusing to load")

    def estimator(self, doc: dict):
        name = doc.get("__estimator__")
        if name == "sklearn.pipeline.Pipeline":
            from sklearn.pipeline import Pipeline

            params = self.decode(doc.get("params", {"__dict__": []}))
            unknown = sorted(set(params) - (set(Pipeline._get_param_names()) - {"steps"}))
            if unknown:
                raise ValueError(f"sklearn.pipeline.Pipeline has no parameter {', '.join(map(repr, unknown))}")
            steps = [(str(step_name), self.estimator(step)) for step_name, step in doc["steps"]]
            return Pipeline(steps, **params)
        handler = _registry.get(name)
        if handler is None:
            raise ValueError(
                f"{MANIFEST} asks for type {name!r}, which is not registered; refusing to load it. "
                f"Known types: {', '.join(registered_types())}"
            )
        return handler.from_state(self.decode(doc["state"]))


def _c_array(value: np.ndarray) -> np.ndarray:
    """C-ordered, native byte order, shape kept (np.ascontiguousarray makes 0-d arrays 1-d)."""
    return np.array(value, dtype=value.dtype.newbyteorder("="), order="C", copy=True)


def _numeric_dtype(text: str) -> np.dtype:
    dtype = np.dtype(str(text))
    if dtype.kind not in "biuf":
        raise ValueError(f"{MANIFEST}: scalar dtype {text!r} is not numeric")
    return dtype


def _text_dtype(text: str) -> np.dtype:
    dtype = np.dtype(str(text))
    if dtype.kind != "U" or dtype.itemsize > 1 << 20:
        raise ValueError(f"{MANIFEST}: value array dtype {text!r} is not text of a sane width")
    return dtype


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key


# -- model files -----------------------------------------------------------------------------
def _model_file_paths(folder: Path) -> list[Path]:
    return model_files(folder)


def _vectorizers(estimator) -> list:
    """Every BertVectorizer in ``estimator`` (itself, or in a pipeline, nested or not)."""
    from bertfeat.vectorizer import BertVectorizer

    if isinstance(estimator, BertVectorizer):
        return [estimator]
    steps = [s for _, s in estimator.steps] if hasattr(estimator, "steps") else []
    return [v for s in steps for v in _vectorizers(s)]


# -- public API ------------------------------------------------------------------------------
def save(estimator, folder, *, include_model: bool | None = None, overwrite: bool = False) -> Path:
    """Write a fitted ``estimator`` (a Pipeline, a BertVectorizer or a registered head) to ``folder``.

    ``include_model``: copy the encoder's files into the folder (a self-contained
    deployment); None follows each vectorizer's ``store_weights``. Without them the folder
    holds the model reference and fingerprint, checked at load. The folder is written
    under a temporary name and renamed into place: a crash leaves no half-written model.
    """
    from sklearn.utils.validation import check_is_fitted

    _register_builtins()
    folder = Path(os.path.expanduser(os.fspath(folder)))
    if folder.exists() and not overwrite and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"{str(folder)!r} exists and is not empty; pass overwrite=True to replace it")
    for step in [s for _, s in estimator.steps] if hasattr(estimator, "steps") else [estimator]:
        check_is_fitted(step)
    writer = _Writer()
    root = writer.estimator(estimator, "root")
    import sklearn

    from bertfeat import __version__

    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "bertfeat": __version__,
        "sklearn": sklearn.__version__,
        "root": root,
        "models": {},
    }
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.saving-", dir=folder.parent))
    try:
        from safetensors.numpy import save_file

        save_file(writer.arrays, str(tmp / ARRAYS))
        manifest["arrays_sha256"] = file_sha256(tmp / ARRAYS)
        for vec in _vectorizers(estimator):
            embed = vec.store_weights if include_model is None else include_model
            if embed:
                manifest["models"][vec.model_fingerprint_] = _copy_model(vec, tmp)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False), encoding="utf-8")
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _copy_model(vec, tmp: Path) -> str:
    source = Path(vec._files_folder())
    target = tmp / MODELS / vec.model_fingerprint_[:32]
    if not target.exists():
        target.mkdir(parents=True)
        for path in _model_file_paths(source):
            shutil.copyfile(path, target / path.name)
        if fingerprint(target) != vec.model_fingerprint_:
            raise ValueError(
                f"the model files at {str(source)!r} changed since the vectorizer was fitted "
                f"(expected fingerprint {vec.model_fingerprint_[:16]}...); refit before saving"
            )
    return f"{MODELS}/{target.name}"


def load(folder):
    """Build the estimator saved in ``folder`` by :func:`save`. Runs no code from the folder.

    Refused, with an error naming the problem: a folder of another format or version,
    a type that is not registered, a parameter or attribute the type does not have, an
    array file whose digest differs from the manifest (damaged or modified), model files
    whose fingerprint differs from the one recorded at fit. The encoder's model folder
    (embedded, or the one referenced) is checked against its fingerprint here, at load.
    """
    _register_builtins()
    folder = Path(os.path.expanduser(os.fspath(folder)))
    path = folder / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{str(folder)!r} has no {MANIFEST}: not a folder written by bertfeat.persist.save")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{str(path)!r} is not valid JSON (damaged?): {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a {FORMAT} manifest")
    if manifest.get("version") != VERSION:
        raise ValueError(f"{str(path)!r} is format version {manifest.get('version')!r}; this bertfeat reads {VERSION}")
    _warn_versions(manifest)
    arrays_path = folder / ARRAYS
    if not arrays_path.is_file():
        raise FileNotFoundError(f"{str(folder)!r} is missing {ARRAYS}")
    if file_sha256(arrays_path) != manifest.get("arrays_sha256"):
        raise ValueError(
            f"{str(arrays_path)!r} does not match the digest recorded in {MANIFEST}: the file is damaged or was "
            "modified; refusing to load it"
        )
    from safetensors.numpy import load_file

    reader = _Reader(load_file(str(arrays_path)))
    estimator = reader.estimator(manifest["root"])
    extra = sorted(set(reader.arrays) - reader.used)
    if extra:
        raise ValueError(
            f"{ARRAYS} holds arrays that {MANIFEST} does not use ({', '.join(extra[:5])}); refusing to load"
        )
    models = manifest.get("models") or {}
    for vec in _vectorizers(estimator):
        relative = models.get(vec.model_fingerprint_)
        if relative is not None:
            model_dir = (folder / str(relative)).resolve()
            if folder.resolve() not in model_dir.parents:
                raise ValueError(f"{MANIFEST}: model folder {relative!r} is outside {str(folder)!r}")
            vec._use_restored_files(model_dir)
            vec.model_path_ = str(model_dir)
        vec._check_fingerprint_if_cold()  # model folder there, and the files the vectorizer was fitted on
    return estimator


def _warn_versions(manifest: dict) -> None:
    import sklearn

    saved = str(manifest.get("sklearn", ""))
    if saved.split(".")[:2] != sklearn.__version__.split(".")[:2]:
        warnings.warn(
            f"this model was saved with scikit-learn {saved} and is loaded with {sklearn.__version__}; "
            "fitted attributes may have changed meaning: check its predictions",
            UserWarning,
            stacklevel=3,
        )
