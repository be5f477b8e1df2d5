"""The Hugging Face side of fine-tuning: build the sequence-classification model, save it
as a standard folder and read it back (pickles and persist folders hold that folder).

The estimator's own metadata (classes, input form, parameters, history) travels inside
``config.json`` under the key ``"bertfeat"``; Hugging Face ignores it, and a folder
without it (any ``*ForSequenceClassification`` checkpoint) still loads.
"""

from __future__ import annotations

from pathlib import Path

from bertfeat._store import load_module, load_tokenizer, quiet_transformers

META_KEY = "bertfeat"
HEAD = "sequence-classification"


def build_module(folder: Path, num_labels: int, problem_type: str, labels: list[str] | None):
    """A fresh ``AutoModelForSequenceClassification`` on the encoder in ``folder`` (fp32, CPU).

    The head is initialised from the global torch RNG (seed it before calling). A folder
    that already holds a head of another size gets a new one; the encoder's weights must
    all be in the files (the store refuses random ones).
    """
    kwargs = dict(num_labels=num_labels, problem_type=problem_type)
    if labels is not None:
        kwargs["id2label"] = dict(enumerate(labels))
        kwargs["label2id"] = {name: i for i, name in enumerate(labels)}
    return load_module(folder, HEAD, fresh_head=True, **kwargs)


def load_saved(folder: Path, head: str = HEAD):
    """A saved folder with a ``head`` (sequence classification by default; see
    :data:`bertfeat._store.HEADS`): ``(module, tokenizer, metadata)``; the head must be in
    the files."""
    module = load_module(folder, head)
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
