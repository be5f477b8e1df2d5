"""Bad input, tried hard: arbitrary unicode, wrong types and shapes, parameters out of
range, broken model folders. Every case ends in finite float32 vectors in input order,
or in an error that names the problem and where it is (row, parameter, file).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bertfeat import BertVectorizer

TEXTS = ["good film", "bad film", "great acting", "awful plot"]
LABELS = [1, 0, 1, 0]


# -- model folders -------------------------------------------------------------------
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def copy_tokenizer(src: Path, dst: Path) -> Path:
    for name in TOKENIZER_FILES:
        shutil.copy(src / name, dst / name)
    return dst


def small_bert_config(tiny_bert: Path, **extra):
    from transformers import BertConfig

    cfg = json.loads((tiny_bert / "config.json").read_text())
    keys = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
    return BertConfig(**{k: cfg[k] for k in keys}, **extra)


@pytest.fixture(scope="module")
def folders(tmp_path_factory, tiny_bert):
    """Broken or foreign model folders, built once."""
    import torch
    from transformers import (
        BertForMaskedLM,
        BertModel,
        DistilBertConfig,
        DistilBertModel,
        GPT2Config,
        GPT2Model,
        T5Config,
        T5Model,
    )

    base = tmp_path_factory.mktemp("folders")
    made = {}

    def copy(name, drop=()):
        folder = base / name
        shutil.copytree(tiny_bert, folder)
        for f in drop:
            (folder / f).unlink()
        made[name] = folder
        return folder

    (base / "empty").mkdir()
    made["empty"] = base / "empty"
    copy("no-weights", drop=["model.safetensors"])
    copy("no-config", drop=["config.json"])
    copy("no-tokenizer", drop=list(TOKENIZER_FILES))
    folder = copy("truncated-weights")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    folder = copy("garbage-weights")
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    folder = copy("truncated-config")
    (folder / "config.json").write_text((folder / "config.json").read_text()[:40])
    folder = copy("truncated-tokenizer")
    (folder / "tokenizer.json").write_text((folder / "tokenizer.json").read_text()[:1000])
    folder = copy("index-without-shard")
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    weight_map = {"embeddings.word_embeddings.weight": "model-00002-of-00002.safetensors"}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))

    torch.manual_seed(0)
    for name, model in {
        "gpt2": GPT2Model(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=100, n_positions=64)),
        "t5": T5Model(T5Config(num_layers=1, d_model=16, d_ff=16, num_heads=2, d_kv=8, vocab_size=100)),
        "bert-config-distilbert-weights": DistilBertModel(
            DistilBertConfig(vocab_size=small_bert_config(tiny_bert).vocab_size, dim=32, n_layers=1, n_heads=2, hidden_dim=37)
        ),
        "bert-without-pooler": BertModel(small_bert_config(tiny_bert), add_pooling_layer=False),
        "bert-masked-lm-checkpoint": BertForMaskedLM(small_bert_config(tiny_bert)),
        "bert-wider-config": BertModel(small_bert_config(tiny_bert)),
    }.items():
        folder = base / name
        model.save_pretrained(str(folder))
        copy_tokenizer(tiny_bert, folder)
        made[name] = folder
    shutil.copy(tiny_bert / "config.json", made["bert-config-distilbert-weights"] / "config.json")
    wider = json.loads((made["bert-wider-config"] / "config.json").read_text())
    wider["intermediate_size"] = 64
    (made["bert-wider-config"] / "config.json").write_text(json.dumps(wider))
    made["missing"] = base / "does-not-exist"
    return made


@pytest.mark.parametrize(
    "name, error, message",
    [
        ("missing", FileNotFoundError, r"does-not-exist' does not exist"),
        ("empty", FileNotFoundError, r"is empty \(expected config.json, weights, tokenizer\)"),
        ("no-weights", FileNotFoundError, r"is missing: weights \(model.safetensors or pytorch_model.bin\)"),
        ("no-config", FileNotFoundError, r"is missing: config.json"),
        ("no-tokenizer", FileNotFoundError, r"is missing: tokenizer files"),
        ("truncated-config", ValueError, r"cannot read .*config.json"),
        ("truncated-tokenizer", ValueError, r"cannot load the tokenizer in"),
        ("index-without-shard", ValueError, r"index.json lists model-00002-of-00002.safetensors, which is absent"),
        ("truncated-weights", ValueError, r"model.safetensors is \d+ bytes but its header describes \d+: truncated"),
        ("garbage-weights", ValueError, r"model.safetensors has a damaged header \(not a safetensors file\?\)"),
        ("gpt2", ValueError, r"holds a 'gpt2' model; bertfeat needs an encoder-only model"),
        ("t5", ValueError, r"holds a 't5' model, which is not an encoder-only model"),
        (
            "bert-config-distilbert-weights",
            ValueError,
            r"do not match its config.json \(a 'bert' model\): \d+ weights are missing .*other weights instead "
            r"\(e.g. transformer.layer",
        ),
        (
            "bert-wider-config",
            ValueError,
            r"6 weights have other shapes than config.json says \(e.g. encoder.layer.0.intermediate.dense.bias is "
            r"\(37,\) in the files, \(64,\) by the config\)",
        ),
    ],
)
def test_broken_or_foreign_model_folder_is_a_clear_error(folders, name, error, message):
    with pytest.raises(error, match=message):
        BertVectorizer(model=str(folders[name])).fit(TEXTS)


@pytest.mark.parametrize("name", ["bert-without-pooler", "bert-masked-lm-checkpoint"])
def test_checkpoint_without_pooler_weights_never_uses_a_random_pooler(folders, name):
    """transformers fills absent weights with random ones; before the fix pooling='pooler'
    gave different vectors at every load of the same files (same fingerprint, same cache key)."""
    import bertfeat._models as models

    with pytest.raises(ValueError, match=r"pooling='pooler' but the 'bert' model .* has no pooler"):
        BertVectorizer(model=str(folders[name]), pooling="pooler").fit(TEXTS)
    runs = []
    for _ in range(2):
        models.clear_registry()
        runs.append(BertVectorizer(model=str(folders[name]), pooling="cls").fit(TEXTS).transform(TEXTS))
    np.testing.assert_array_equal(runs[0], runs[1])
