"""Writers that run on the workers (one file per partition) and the manifest that proves completeness."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import dask
import dask.array as da
import numpy as np

from bertfeat._atomic import write_atomically
from bertfeat._store import file_sha256
from bertfeat.dask._extract import partitions, prepare
from bertfeat.dask._worker import write_part

MANIFEST = "_manifest.json"


class IncompleteOutputError(ValueError):
    """A folder written by to_parquet / to_npy_shards is missing parts, rows or its manifest."""


def _part_names(folder: Path, suffix: str) -> list[str]:
    return sorted(p.name for p in folder.glob(f"part-*{suffix}"))


def _prepare_folder(folder: Path, suffix: str, overwrite: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    old = _part_names(folder, suffix)
    if (folder / MANIFEST).exists() or old:
        if not overwrite:
            raise FileExistsError(
                f"{str(folder)!r} already holds bertfeat output ({len(old)} parts); pass overwrite=True "
                "to replace it, or choose another folder"
            )
        (folder / MANIFEST).unlink(missing_ok=True)  # first: a half-replaced folder is never 'complete'
        for name in old:
            (folder / name).unlink(missing_ok=True)


def _json_safe(value):
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def _write(vectorizer, collection, folder, fmt, columns, keep, overwrite, allow_gpu_sharing, client) -> dict:
    keep = [keep] if isinstance(keep, str) else list(keep or ())
    parts, columns, _ = partitions(collection, columns, keep)
    shipped, token, dim = prepare(vectorizer, allow_gpu_sharing, client)
    names = [str(n) for n in vectorizer.get_feature_names_out()]
    clash = sorted(set(keep) & set(names))
    if clash:
        raise ValueError(f"keep_columns {clash} clash with the vector column names")
    folder = Path(os.path.expanduser(os.fspath(folder))).resolve()
    suffix = ".parquet" if fmt == "parquet" else ".npy"
    _prepare_folder(folder, suffix, overwrite)
    width = max(5, len(str(len(parts))))
    tasks = [
        dask.delayed(write_part, pure=False)(
            p, shipped, token, columns, dim, names, keep, str(folder), f"part-{i:0{width}d}{suffix}", fmt
        )
        for i, p in enumerate(parts)
    ]
    records = list(dask.compute(*tasks)) if tasks else []
    for leftover in folder.glob(".tmp-*"):  # writers killed mid-write
        leftover.unlink(missing_ok=True)
    manifest = {
        "format": fmt,
        "complete": True,
        "rows": sum(r["rows"] for r in records),
        "n_features": dim,
        "dtype": "float32",
        "feature_names": names if fmt == "parquet" else None,
        "keep_columns": keep,
        "parts": records,
        "model": {"path": vectorizer.model_path_, "fingerprint": vectorizer.model_fingerprint_},
        "vectorizer": {k: _json_safe(v) for k, v in vectorizer.get_params().items()},
        "bertfeat_version": __import__("bertfeat").__version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_atomically(folder / MANIFEST, json.dumps(manifest, indent=1))
    return manifest


def to_parquet(
    vectorizer, collection, folder, *, columns=None, keep_columns=(), overwrite=False, allow_gpu_sharing=False, client=None
) -> dict:
    """Encode ``collection`` and write one parquet file per partition from the workers.

    Each part (``part-00000.parquet`` ...) holds ``keep_columns`` of the input (ids,
    labels) then one float32 column per feature (``vectorizer.get_feature_names_out()``),
    rows in input order. Parts are written to a temporary name and renamed, so a retried
    task (a lost worker) replaces a part whole. Nothing but a small record per part comes
    back to the client, which writes ``_manifest.json`` (rows, sizes, sha256 per part)
    last: a folder without it is incomplete. Returns the manifest; read the folder back
    with ``dask.dataframe.read_parquet(folder)`` or pandas.
    """
    return _write(vectorizer, collection, folder, "parquet", columns, keep_columns, overwrite, allow_gpu_sharing, client)


def to_npy_shards(vectorizer, collection, folder, *, columns=None, overwrite=False, allow_gpu_sharing=False, client=None) -> dict:
    """Like :func:`to_parquet`, one ``part-00000.npy`` float32 array per partition.

    Read them back, checked and in order, with :func:`read_npy_shards`.
    """
    return _write(vectorizer, collection, folder, "npy", columns, (), overwrite, allow_gpu_sharing, client)


def check_output(folder, *, checksums=True) -> dict:
    """The manifest of a complete output folder; IncompleteOutputError naming what is wrong.

    Checks that the manifest exists, that every part it lists is there with its size,
    row count (and sha256 when ``checksums``), and that no other part files are present.
    """
    folder = Path(os.path.expanduser(os.fspath(folder)))
    path = folder / MANIFEST
    if not path.is_file():
        raise IncompleteOutputError(f"{str(folder)!r} has no {MANIFEST}: the write did not finish")
    manifest = json.loads(path.read_text())
    suffix = ".parquet" if manifest["format"] == "parquet" else ".npy"
    listed = [r["file"] for r in manifest["parts"]]
    extra = sorted(set(_part_names(folder, suffix)) - set(listed))
    if extra:
        raise IncompleteOutputError(f"{str(folder)!r} holds parts the manifest does not list: {extra[:5]}")
    for record in manifest["parts"]:
        part = folder / record["file"]
        if not part.is_file():
            raise IncompleteOutputError(f"{str(part)!r} is missing")
        if part.stat().st_size != record["bytes"]:
            raise IncompleteOutputError(f"{str(part)!r} has {part.stat().st_size} bytes, expected {record['bytes']}")
        if manifest["format"] == "parquet":
            import pyarrow.parquet as pq

            rows = pq.ParquetFile(part).metadata.num_rows
        else:
            rows = np.load(part, mmap_mode="r").shape[0]
        if rows != record["rows"]:
            raise IncompleteOutputError(f"{str(part)!r} has {rows} rows, expected {record['rows']}")
        if checksums and file_sha256(part) != record["sha256"]:
            raise IncompleteOutputError(f"{str(part)!r} does not match its sha256 (changed or damaged)")
    if sum(r["rows"] for r in manifest["parts"]) != manifest["rows"]:
        raise IncompleteOutputError(f"{str(path)!r}: part rows do not add up to {manifest['rows']}")
    return manifest


def read_npy_shards(folder, *, checksums=False):
    """The vectors of a complete ``to_npy_shards`` folder as a dask array (memory-mapped parts)."""
    folder = Path(os.path.expanduser(os.fspath(folder)))
    manifest = check_output(folder, checksums=checksums)
    if manifest["format"] != "npy":
        raise ValueError(f"{str(folder)!r} holds {manifest['format']} output; read it with dask.dataframe.read_parquet")
    dim = manifest["n_features"]
    blocks = [
        da.from_delayed(dask.delayed(np.load)(str(folder / r["file"]), mmap_mode="r"), shape=(r["rows"], dim), dtype=np.float32)
        for r in manifest["parts"]
    ]
    return da.concatenate(blocks, axis=0) if blocks else da.empty((0, dim), dtype=np.float32)

