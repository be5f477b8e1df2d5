"""What the ``bertfeat`` commands share: the usage error, the cache and progress
settings, checks of output paths made before any work, the vectorizer built from the
arguments, and table reading and writing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bertfeat._store import resolve_model_path
from bertfeat.cli.readers import read_table


class UsageError(ValueError):
    """Arguments that do not fit together."""


# -- settings shared by the commands ----------------------------------------------------
def default_cache_dir() -> Path:
    """``$BERTFEAT_HOME/cache``, else ``~/.cache/bertfeat/cache``: a second command on the same texts encodes nothing."""
    home = os.environ.get("BERTFEAT_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "bertfeat")
    return Path(home) / "cache"


def cache_dir_of(args):
    if getattr(args, "no_cache", False):
        if args.cache_dir is not None:
            raise UsageError("--cache-dir and --no-cache contradict each other; give one")
        return None
    return str(Path(args.cache_dir).expanduser()) if args.cache_dir is not None else str(default_cache_dir())


def show_progress(args) -> bool:
    """--progress / --no-progress; by default on where a person watches (stderr is a terminal)."""
    chosen = getattr(args, "progress", None)
    return sys.stderr.isatty() if chosen is None else bool(chosen)


def say(args, message: str) -> None:
    """A stage note on stderr, beside the progress bar (results go to stdout)."""
    if show_progress(args):
        print(f"bertfeat {args.command}: {message}", file=sys.stderr, flush=True)


def check_writable(path: Path, what: str) -> None:
    """``path`` can be created: its nearest existing parent is a folder we may write to."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{path}: cannot write the {what} there ({parent} is not a folder)")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{path}: cannot write the {what} there (no permission in {parent})")


def check_output_file(path, formats, what: str) -> Path:
    """An output file with a supported suffix in a writable place, checked before any work."""
    path = Path(path)
    if path.suffix.lower() not in formats:
        raise UsageError(f"{path}: unknown {what} format {path.suffix or '(none)'}; use {' or '.join(formats)}")
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; give a file name ending in {' or '.join(formats)}")
    if path.suffix.lower() == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UsageError(f'{path}: writing parquet needs pyarrow: pip install "bertfeat[io]"') from None
    check_writable(path, what)
    return path


def check_output_folder(path, what: str) -> Path:
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path}: is a file; the {what} is a folder")
    check_writable(path / "x", what)
    return path


def check_model_argument(args) -> None:
    """The --model folder exists and holds a model (files only; nothing is loaded)."""
    try:
        resolve_model_path(getattr(args, "model", None))
    except (OSError, ValueError) as exc:
        raise UsageError(f"--model {args.model}: {exc}") from None


def parse_layers(text: str):
    if text == "last":
        return "last"
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(f"--layers {text!r}: expected 'last' or comma-separated integers like -4,-3,-2,-1") from None


def build_vectorizer(args, **extra):
    from bertfeat import BertVectorizer

    return BertVectorizer(
        model=args.model,
        pooling=args.pooling,
        layers=parse_layers(args.layers),
        layer_agg=args.layer_agg,
        max_length=args.max_length,
        cache_dir=cache_dir_of(args),
        device=args.device,
        fast_mode=getattr(args, "fast_mode", None),
        progress=show_progress(args),
        **extra,
    )


def checked_vectorizer(args, **extra):
    """The vectorizer, its parameters and model folder checked (nothing loaded yet)."""
    vectorizer = build_vectorizer(args, **extra)
    vectorizer._check_params()
    check_model_argument(args)
    return vectorizer


def read_data(args, path, need_labels=False, min_classes=2):
    table = read_table(path, args.text_column, args.pair_column, getattr(args, "label_column", None), need_labels,
                       min_classes=min_classes, drop_empty=getattr(args, "drop_empty", False),
                       label_names_column=getattr(args, "label_names_column", None))
    if table.dropped:
        print(f"dropped {table.dropped} row{'s' if table.dropped != 1 else ''} with an empty text (--drop-empty); "
              f"{len(table.X)} left")
    return table


def write_table(frame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(path, index=False)
