"""The saved folder: writing it atomically, reading it with every check.

A folder from someone else is untrusted. :func:`load` reads two files with parsers
that build data only (``json``, safetensors), each bounded in size and resolved inside
the folder; model folders come only from inside it (no link leading out) or from a
folder the caller names, and hold nothing but a model's config, safetensors weights
and tokenizer files.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import warnings
from collections.abc import Iterator
from pathlib import Path

from bertfeat import __version__
from bertfeat._atomic import atomic_folder
from bertfeat._store import CONFIG_FILE, TOKENIZER_FILES, file_sha256, fingerprint, model_files
from bertfeat._state import is_location
from bertfeat.persist._codec import ARRAYS, MANIFEST, Reader, Writer
from bertfeat.persist._registry import register_builtins

FORMAT = "bertfeat.persist"
VERSION = 1
MODELS = "models"
# Far above what a fitted pipeline needs (a few kB plus its text labels), far below what
# could exhaust memory while parsing.
MAX_MANIFEST_BYTES = 64 << 20
MAX_HEADER_BYTES = 16 << 20  # a safetensors header: a 7B model's is about 100 kB
_SAFETENSORS = ("model.safetensors",)
_INDEX = "model.safetensors.index.json"


class FolderStore:
    """Model folders inside a saved folder (see :mod:`bertfeat._state` for the protocol)."""

    def __init__(self, root: Path, *, trusted: bool, include_model: bool | None = None, overrides=None):
        self.root = root
        self.trusted = trusted
        self.include_model = include_model
        self.overrides = dict(overrides or {})
        self.index: dict[str, str] = {}

    def embed(self, store_weights: bool) -> bool:
        return bool(store_weights if self.include_model is None else self.include_model)

    def put(self, folder: Path) -> dict:
        """Copy a model's files into ``models/<fingerprint>`` (once per fingerprint)."""
        folder = Path(folder)
        expected = fingerprint(folder)
        names = _model_file_names(folder)
        binary = [n for n in names if n.endswith(".bin")]
        if binary:
            raise ValueError(
                f"{str(folder)!r} holds {', '.join(binary)}: only safetensors weights go into a saved folder "
                "(load it and save_pretrained(...) again to convert)"
            )
        relative = f"{MODELS}/{expected[:32]}"
        target = self.root / relative
        if not target.exists():
            target.mkdir(parents=True)
            for name in names:
                shutil.copyfile(folder / name, target / name)
            check_model_files(target)  # what load would refuse is refused now, not in deployment
            if fingerprint(target) != expected:
                raise ValueError(f"the model files at {str(folder)!r} changed while they were copied; save again")
        self.index[expected] = relative
        return {"folder": relative, "fingerprint": expected}

    @contextlib.contextmanager
    def open(self, ref, lasting: bool) -> Iterator[Path]:
        """The model folder ``ref`` names, checked: inside the saved folder, only model
        files, size-bounded headers, the fingerprint recorded at save."""
        if not (isinstance(ref, dict) and isinstance(ref.get("folder"), str) and isinstance(ref.get("fingerprint"), str)):
            raise ValueError(f"{MANIFEST}: a model reference must be {{'folder': str, 'fingerprint': str}}; got {ref!r:.100}")
        relative = ref["folder"]
        folder = inside(self.root, relative, "model folder")
        if not folder.is_dir():
            raise FileNotFoundError(f"{MANIFEST} names model folder {relative!r}, which is not a folder in {str(self.root)!r}")
        check_model_files(folder)
        found = fingerprint(folder)
        if found != ref["fingerprint"]:
            raise ValueError(
                f"the model files at {str(folder)!r} changed since they were saved (fingerprint {found[:16]}..., "
                f"expected {ref['fingerprint'][:16]}...); refusing to load them"
            )
        yield folder


def inside(root: Path, relative: str, what: str) -> Path:
    """``root / relative`` resolved (links followed), refused unless it stays in ``root``."""
    path = (root / relative).resolve()
    if path != root and root not in path.parents:
        raise ValueError(f"{MANIFEST}: {what} {relative!r} is outside {str(root)!r} (after following links); refusing it")
    return path


def _model_file_names(folder: Path) -> list[str]:
    """What makes a model, by name: the files :func:`bertfeat._store.fingerprint` covers."""
    return [path.name for path in model_files(folder)]


def check_model_files(folder: Path) -> None:
    """Only regular model files, none leading outside, safetensors weights with bounded
    headers, and no JSON setting that names other files or code (``auto_map``,
    ``*_file`` in the tokenizer config, shards outside the folder)."""
    allowed = {CONFIG_FILE, _INDEX, *_SAFETENSORS, *TOKENIZER_FILES}
    for entry in folder.iterdir():
        name = entry.name
        is_shard = name.startswith("model-") and name.endswith(".safetensors")
        if name not in allowed and not is_shard:
            raise ValueError(
                f"model folder {str(folder)!r} holds {name!r}: a saved folder's model holds only config.json, "
                "safetensors weights and tokenizer files; refusing it"
            )
        inside(folder, name, "model file")
        if not entry.is_file():
            raise ValueError(f"model folder {str(folder)!r}: {name!r} is not a regular file; refusing it")
        if name.endswith(".safetensors"):
            check_safetensors_header(entry)
        if name.endswith(".json") and name != "tokenizer.json":  # tokenizer.json: read by the Rust tokenizer only
            settings = read_json(entry, MAX_MANIFEST_BYTES)
            _check_model_settings(entry, settings, folder)


def _check_model_settings(path: Path, settings, folder: Path) -> None:
    if not isinstance(settings, dict):
        return
    if "auto_map" in settings:
        raise ValueError(f"{str(path)!r} sets 'auto_map' (code to import); refusing it")
    if path.name == "tokenizer_config.json":
        named = sorted(k for k, v in settings.items() if (k.endswith("_file") or k.endswith("_files")) and v)
        if named:
            raise ValueError(f"{str(path)!r} names files to read ({', '.join(named)}); refusing it")
    if path.name == _INDEX:
        shards = (settings.get("weight_map") or {}).values() if isinstance(settings.get("weight_map"), dict) else []
        for shard in set(shards):
            if not isinstance(shard, str) or os.path.basename(shard) != shard or not (folder / shard).is_file():
                raise ValueError(f"{str(path)!r} names weight file {shard!r}, which is not a file of this folder")


def check_safetensors_header(path: Path) -> None:
    """The 8-byte length before a safetensors header, bounded before anything parses it."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
    if len(head) < 8:
        raise ValueError(f"{str(path)!r} is {size} bytes: not a safetensors file")
    (n,) = struct.unpack("<Q", head)
    if n > MAX_HEADER_BYTES or n > size - 8:
        raise ValueError(
            f"{str(path)!r} declares a {n}-byte header (limit {MAX_HEADER_BYTES}, file {size} bytes): "
            "damaged or crafted; refusing to parse it"
        )


def read_json(path: Path, limit: int):
    """JSON from ``path``, refusing more than ``limit`` bytes or pathological nesting."""
    size = path.stat().st_size
    if size > limit:
        raise ValueError(f"{str(path)!r} is {size} bytes, more than the {limit} allowed; refusing to parse it")
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{str(path)!r} is not valid JSON (damaged?): {exc}") from None
    except RecursionError:
        raise ValueError(f"{str(path)!r} is nested too deeply to be a saved model; refusing it") from None


# -- public API ------------------------------------------------------------------------------
def save(estimator, folder, *, include_model: bool | None = None, overwrite: bool = False) -> Path:
    """Write a fitted ``estimator`` (a Pipeline, or a registered estimator) to ``folder``.

    Parameters
    ----------
    estimator : Pipeline or registered estimator
        Fitted.
    folder : str or path
        Written under a temporary name and renamed into place: a crash leaves no
        half-written model.
    include_model : bool or None, default=None
        Copy the encoder's files into the folder (a self-contained deployment); None
        follows each vectorizer's ``store_weights`` (a ``FrozenTokenClassifier``: not
        inside). Fine-tuned models are always inside.
    overwrite : bool, default=False
        Replace an existing non-empty folder.

    Parameters that name places on disk or code (``cache_dir``, a Pipeline's ``memory``,
    ``callbacks``, any ``*_dir``) are not saved: the loading machine passes them to
    :func:`load`.
    """
    from safetensors.numpy import save_file
    from sklearn.utils.validation import check_is_fitted

    register_builtins()
    folder = Path(os.path.expanduser(os.fspath(folder)))
    if folder.exists() and not overwrite and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"{str(folder)!r} exists and is not empty; pass overwrite=True to replace it")
    for step in [s for _, s in estimator.steps] if hasattr(estimator, "steps") else [estimator]:
        check_is_fitted(step)
    with atomic_folder(folder) as tmp:
        store = FolderStore(tmp, trusted=False, include_model=include_model)
        writer = Writer(store)
        root = writer.estimator(estimator, "root")
        save_file(writer.arrays, str(tmp / ARRAYS))
        manifest = {"format": FORMAT, "version": VERSION, **_versions(), "root": root, "models": store.index,
                    "arrays_sha256": file_sha256(tmp / ARRAYS)}  # fmt: skip
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False), encoding="utf-8")
    return folder


def load(folder, **local):
    """Build the estimator saved in ``folder`` by :func:`save`. Runs no code from the folder.

    Parameters
    ----------
    folder : str or path
        A folder written by :func:`save`.
    **local
        What the loading machine decides, never the file: ``cache_dir=``, ``memory=``,
        ``callbacks=`` (any parameter naming a place or code), ``model=`` (the folder of
        a model that was saved by reference, not inside the folder) and ``device=``.
        Each is set on every loaded estimator that has that parameter.

    Refused, with an error naming the problem: a folder of another format or version,
    a type that is not registered, a parameter or attribute the type does not have, a
    place on disk or code hook in the file, a model outside the folder that the caller
    did not name, files that lead outside the folder, an array file whose digest
    differs from the manifest, model files whose fingerprint differs from the one
    recorded, a manifest or safetensors header over its size bound.
    """
    from safetensors.numpy import load_file

    register_builtins()
    unknown = sorted(k for k in local if not (is_location(k) or k in ("model", "device")))
    if unknown:
        raise TypeError(
            f"load() takes the loading machine's settings (cache_dir, memory, callbacks, model, device, *_dir); "
            f"not {', '.join(unknown)}"
        )
    given = Path(os.path.expanduser(os.fspath(folder)))
    if not (given / MANIFEST).is_file():
        raise FileNotFoundError(f"{str(given)!r} has no {MANIFEST}: not a folder written by bertfeat.persist.save")
    root = given.resolve()
    manifest_path = inside(root, MANIFEST, "manifest")
    manifest = read_json(manifest_path, MAX_MANIFEST_BYTES)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{str(manifest_path)!r} is not a {FORMAT} manifest")
    if manifest.get("version") != VERSION:
        raise ValueError(
            f"{str(manifest_path)!r} is format version {manifest.get('version')!r:.20}; this bertfeat reads {VERSION}"
        )
    _warn_versions(manifest)
    arrays_path = inside(root, ARRAYS, "array file")
    if not arrays_path.is_file():
        raise FileNotFoundError(f"{str(given)!r} is missing {ARRAYS}")
    check_safetensors_header(arrays_path)
    if file_sha256(arrays_path) != manifest.get("arrays_sha256"):
        raise ValueError(
            f"{str(arrays_path)!r} does not match the digest recorded in {MANIFEST}: the file is damaged or was "
            "modified; refusing to load it"
        )
    reader = Reader(load_file(str(arrays_path)), FolderStore(root, trusted=False, overrides=local))
    try:
        estimator = reader.estimator(manifest.get("root"))
    except RecursionError:
        raise ValueError(f"{MANIFEST} is nested too deeply to be a saved model; refusing it") from None
    extra = sorted(set(reader.arrays) - reader.used)
    if extra:
        raise ValueError(
            f"{ARRAYS} holds arrays that {MANIFEST} does not use ({', '.join(extra[:5])}); refusing to load"
        )
    return estimator


def _versions() -> dict:
    import sklearn

    return {"bertfeat": __version__, "sklearn": sklearn.__version__}


def _warn_versions(manifest: dict) -> None:
    import sklearn

    saved = str(manifest.get("sklearn", ""))
    if saved.split(".")[:2] != sklearn.__version__.split(".")[:2]:
        warnings.warn(
            f"this model was saved with scikit-learn {saved:.20} and is loaded with {sklearn.__version__}; "
            "fitted attributes may have changed meaning: check its predictions",
            UserWarning,
            stacklevel=3,
        )
