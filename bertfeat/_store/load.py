"""Read a model folder into tokenizer + torch module, for any head class, with the checks
that transformers only logs: a non-encoder config, damaged weight files, and weights that
would be randomly initialised (missing from the files, or of another shape).

This is the only module of the package that calls transformers' ``from_pretrained``
(``FineTuneClassifier.from_pretrained`` is the estimator's own method, which comes here).
torch and transformers are imported inside the functions: ``from bertfeat import
BertVectorizer`` must stay light.
"""

from __future__ import annotations

import contextlib
import inspect
from pathlib import Path

from bertfeat._store.files import CONFIG_FILE, stored_shapes, weight_file_damage

# Which transformers class builds each kind of module a caller may ask for.
HEADS = {
    "encoder": "AutoModel",
    "sequence-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
}
# Families whose position ids start after the padding index (514 positions -> 512 tokens).
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "camembert", "longformer", "mpnet", "xlm-roberta-xl"}


@contextlib.contextmanager
def quiet_transformers():
    """While loading: no weight progress bar, and transformers logs errors only (its
    "newly initialized" and "unexpected keys" reports are replaced by
    :func:`check_loaded_weights`). Both settings are restored afterwards, so the
    process keeps whatever the user chose."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    level = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if was_enabled:
            hf_logging.enable_progress_bar()


def read_config(folder: Path):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(str(folder))
    except Exception as exc:
        raise ValueError(f"cannot read {str(folder / CONFIG_FILE)!r}: {exc}") from exc


def check_encoder_config(config, folder: Path) -> None:
    """Refuse decoders and encoder-decoders: pooling their states is not what users mean."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    if getattr(config, "is_encoder_decoder", False) or getattr(config, "is_decoder", False):
        raise ValueError(
            f"model folder {str(folder)!r} holds a {config.model_type!r} model, which is not an "
            "encoder-only model (BERT, DistilBERT, RoBERTa, MPNet, ...)"
        )
    if config.model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        raise ValueError(
            f"model folder {str(folder)!r} holds a {config.model_type!r} model; bertfeat needs an "
            "encoder-only model (BERT, DistilBERT, RoBERTa, MPNet, ...)"
        )


def config_info(config) -> dict:
    """Shapes known before any forward pass (hidden size, depth)."""
    return {"hidden_size": int(config.hidden_size), "num_layers": int(config.num_hidden_layers)}


def max_length(config, tokenizer) -> int:
    """Most tokens per window: the position table (less the offset of RoBERTa-style
    families) or the tokenizer's declared maximum, whichever is smaller."""
    positions = getattr(config, "max_position_embeddings", None) or 512
    if config.model_type in _OFFSET_POSITIONS:
        positions -= 2
    declared = getattr(tokenizer, "model_max_length", None)
    if declared and declared < 1_000_000:
        return int(min(declared, positions))
    return int(positions)


def model_info(config, encoder, tokenizer) -> dict:
    """What batching and pooling need to know about a loaded encoder (a base model)."""
    info = config_info(config)
    info["has_pooler"] = getattr(encoder, "pooler", None) is not None
    info["token_types"] = "token_type_ids" in inspect.signature(encoder.forward).parameters
    info["max_length"] = max_length(config, tokenizer)
    info["matmul_params"] = matmul_params(encoder)
    return info


def matmul_params(encoder) -> int:
    """Weights of the encoder's linear layers: its multiply-adds per token, less attention
    (what sizes its CPU batches, see ``bertfeat._encode.batch_defaults``)."""
    import torch

    return int(sum(m.weight.numel() for m in encoder.modules() if isinstance(m, torch.nn.Linear)))


def load_tokenizer(folder: Path):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder))
    except Exception as exc:
        raise ValueError(f"cannot load the tokenizer in {str(folder)!r}: {exc}") from exc


def _encoder_key(module, key: str) -> str | None:
    """``key`` relative to the encoder inside ``module``; None for a task-head weight."""
    if module.base_model is module:
        return key
    prefix = module.base_model_prefix + "."
    return key[len(prefix):] if key.startswith(prefix) else None


def _mismatches(module, loading: dict, folder: Path) -> list[tuple[str, tuple, tuple]]:
    """``(name, shape in the files, shape by the config)`` for each weight of another shape.

    transformers 5 reports the shapes; 4.x only the names, so the shapes come from the
    module and the safetensors headers there (``()`` where the files cannot tell).
    """
    found, stored, expected = [], None, None
    for entry in loading.get("mismatched_keys") or []:
        if not isinstance(entry, str):
            key, in_files, in_config = entry
            found.append((str(key), tuple(in_files), tuple(in_config)))
            continue
        if stored is None:
            stored = stored_shapes(folder)
            expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        prefix = module.base_model_prefix + "."
        bare = entry[len(prefix):] if entry.startswith(prefix) else entry
        in_files = stored.get(entry) or stored.get(bare) or stored.get(prefix + bare) or ()
        found.append((entry, in_files, expected.get(entry, ())))
    return sorted(found)


def check_loaded_weights(module, loading: dict, config, folder: Path, fresh_head: bool) -> None:
    """Refuse weights that transformers initialised at random with only a log line.

    Random encoder weights would change the vectors at every load under one fingerprint
    (and the disk cache would mix them). Task-head weights may be new only when the
    caller asked for a fresh head (``fresh_head``: fine-tuning starts one). A missing
    pooler on a bare encoder is dropped instead, so that ``pooling='pooler'`` fails
    clearly and other poolings work; under a fresh head it is part of what is trained.
    """
    missing = sorted(loading.get("missing_keys") or [])
    mismatched = _mismatches(module, loading, folder)
    missing_body, missing_head, dropped_pooler = [], [], False
    for key in missing:
        inner = _encoder_key(module, key)
        if inner is None or (inner.startswith("pooler.") and fresh_head):
            missing_head.append(key)
        elif inner.startswith("pooler.") and module.base_model is module:
            dropped_pooler = True
        else:
            missing_body.append(key)
    bad_shapes = [m for m in mismatched if not (fresh_head and _encoder_key(module, m[0]) is None)]
    if missing_body:
        problem = f"{len(missing_body)} weights are missing from the files (e.g. {', '.join(missing_body[:3])})"
        found = sorted(loading.get("unexpected_keys") or [])
        if found:
            problem += f"; the files hold other weights instead (e.g. {', '.join(found[:3])})"
    elif bad_shapes:
        name, in_files, in_config = bad_shapes[0]
        problem = (
            f"{len(bad_shapes)} weights have other shapes than config.json says "
            f"(e.g. {name} is {in_files} in the files, {in_config} by the config)"
        )
    elif missing_head and not fresh_head:
        raise ValueError(
            f"{str(folder)!r} holds no trained {type(module).__name__} head: "
            f"{', '.join(missing_head[:3])} are missing from its files (an encoder folder, or a "
            "model with another head?); they would be random"
        )
    else:
        if dropped_pooler and getattr(module, "pooler", None) is not None:
            module.pooler = None  # randomly initialised: never use it
        return
    raise ValueError(
        f"the weights in {str(folder)!r} do not match its config.json (a {config.model_type!r} model): "
        f"{problem}. They would be random. Is config.json from another model?"
    )


def load_module(folder: Path, head: str = "encoder", *, dtype=None, fresh_head: bool = False, **options):
    """The ``head`` model (see :data:`HEADS`) read from ``folder``.

    Parameters
    ----------
    folder : Path
        A checked model folder (:func:`bertfeat._store.resolve.resolve_model_path`).
    head : {"encoder", "sequence-classification", "token-classification"}
        Which transformers class builds the module.
    dtype : torch.dtype or None
        Weights precision (None: as transformers defaults, float32).
    fresh_head : bool
        The task head is new (fine-tuning): its weights may be absent from the files or
        of another size (``num_labels`` changed); encoder weights never may.
    **options
        Passed to ``from_pretrained``: ``num_labels``, ``id2label``, ``problem_type``,
        ``attn_implementation="eager"`` (attention weights for the heatmap), ...
    """
    import transformers

    if head not in HEADS:
        raise ValueError(f"head={head!r} is not one of {tuple(HEADS)}")
    config = read_config(folder)
    check_encoder_config(config, folder)
    auto_class = getattr(transformers, HEADS[head])
    extra = {} if dtype is None else {"dtype": dtype}
    try:
        with quiet_transformers():
            # Mismatched shapes are loaded (random) and reported, so that the check below
            # can name them; without this transformers points to a log report.
            module, loading = auto_class.from_pretrained(
                str(folder), output_loading_info=True, ignore_mismatched_sizes=True, **extra, **options
            )
    except Exception as exc:
        damage = weight_file_damage(folder)
        detail = f"{damage} (cause: {exc})" if damage else str(exc)
        raise ValueError(f"cannot load the model weights in {str(folder)!r}: {detail}") from exc
    check_loaded_weights(module, loading, config, folder, fresh_head)
    return module
