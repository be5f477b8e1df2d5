"""The Hugging Face side of fine-tuning: build the sequence-classification model, save it
as a standard folder and read it back (pickles and persist folders hold that folder).

The estimator's own metadata (classes, input form, parameters, history) travels inside
``config.json`` under the key ``"bertfeat"``; Hugging Face ignores it, and a folder
without it (any ``*ForSequenceClassification`` checkpoint) still loads.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from bertfeat._models import (
    quiet_transformers,
    check_encoder_config,
    read_config,
)

META_KEY = "bertfeat"


@contextlib.contextmanager
def _quiet_loading():
    """No weight progress bar, and no "newly initialized classifier" report: a fresh head
    is the point of fine-tuning."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with quiet_transformers():
            yield
    finally:
        hf_logging.set_verbosity(level)


def load_tokenizer(folder: Path):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder))
    except Exception as exc:
        raise ValueError(f"cannot load the tokenizer in {str(folder)!r}: {exc}") from exc


def build_module(folder: Path, num_labels: int, problem_type: str, labels: list[str] | None):
    """A fresh ``AutoModelForSequenceClassification`` on the encoder in ``folder`` (fp32, CPU).

    The head is initialised from the global torch RNG (seed it before calling). A folder
    that already holds a head of another size gets a new one.
    """
    from transformers import AutoModelForSequenceClassification

    config = read_config(folder)
    check_encoder_config(config, folder)
    kwargs = dict(num_labels=num_labels, problem_type=problem_type)
    if labels is not None:
        kwargs["id2label"] = dict(enumerate(labels))
        kwargs["label2id"] = {name: i for i, name in enumerate(labels)}
    try:
        with _quiet_loading():
            module = AutoModelForSequenceClassification.from_pretrained(
                str(folder), ignore_mismatched_sizes=True, **kwargs
            )
    except Exception as exc:
        raise ValueError(f"cannot build a sequence classifier from {str(folder)!r}: {exc}") from exc
    return module


def load_module(folder: Path):
    """A saved sequence-classification folder: ``(module, tokenizer, metadata)``."""
    from transformers import AutoModelForSequenceClassification

    config = read_config(folder)
    check_encoder_config(config, folder)
    try:
        with _quiet_loading():
            module = AutoModelForSequenceClassification.from_pretrained(str(folder))
    except Exception as exc:
        raise ValueError(f"cannot load a sequence classifier from {str(folder)!r}: {exc}") from exc
    meta = dict(getattr(module.config, META_KEY, None) or {})
    return module.eval(), load_tokenizer(folder), meta


def save_folder(module, tokenizer, folder: Path, meta: dict) -> None:
    """A standard Hugging Face folder: config (with id2label), safetensors, tokenizer."""
    folder.mkdir(parents=True, exist_ok=True)
    setattr(module.config, META_KEY, meta)
    try:
        with quiet_transformers():
            module.save_pretrained(str(folder))
    finally:
        delattr(module.config, META_KEY)
    tokenizer.save_pretrained(str(folder))
