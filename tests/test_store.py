"""The model store: what a Hub download fetches, the weight checks for every head class,
the registry's lifetime, and the process settings it touches while loading."""

from __future__ import annotations

import copy
import gc
import shutil
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch

from bertfeat import BertVectorizer, FineTuneClassifier, free_models
from bertfeat._store import from_module, load_model, load_module, store_stats

TEXTS = ["a first text", "a second, longer text to encode", "third"]
# What a typical Hub repository holds beside the model (sentence-transformers layout).
OTHER_REPO_FILES = {
    "tf_model.h5": b"tensorflow weights",
    "flax_model.msgpack": b"flax weights",
    "rust_model.ot": b"rust weights",
    "onnx/model.onnx": b"onnx graph",
    "openvino/openvino_model.bin": b"openvino weights",
    "1_Pooling/config.json": b"{}",
    "README.md": b"# model card",
    "modules.json": b"[]",
}


def fake_hub(monkeypatch, repo: dict[str, Path | bytes], cache: Path) -> list:
    """``huggingface_hub.snapshot_download`` over an in-memory repository: writes the files
    huggingface_hub's own pattern filter lets through, records each call's patterns."""
    import huggingface_hub
    from huggingface_hub.utils import filter_repo_objects

    calls = []

    def snapshot_download(repo_id, allow_patterns=None, ignore_patterns=None, **kwargs):
        calls.append(allow_patterns)
        folder = cache / repo_id.replace("/", "--")
        for name in filter_repo_objects(list(repo), allow_patterns=allow_patterns, ignore_patterns=ignore_patterns):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            data = repo[name]
            (folder / name).write_bytes(data if isinstance(data, bytes) else Path(data).read_bytes())
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return calls


def test_a_hub_id_downloads_only_the_files_a_model_needs(tiny_bert, tmp_path, monkeypatch):
    repo = {p.name: p for p in tiny_bert.iterdir()}
    repo.update(OTHER_REPO_FILES, **{"pytorch_model.bin": b"a second copy of the weights"})
    calls = fake_hub(monkeypatch, repo, tmp_path / "hub")
    vec = BertVectorizer("someone/tiny-bert", progress=False).fit(TEXTS)
    folder = Path(vec.model_path_)
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == sorted(p.name for p in tiny_bert.iterdir())
    assert len(calls) == 1  # safetensors found: the PyTorch copy is never asked for
    assert vec.model_fingerprint_ == BertVectorizer(str(tiny_bert)).fit(TEXTS).model_fingerprint_


def test_a_hub_repository_without_safetensors_gets_its_pytorch_weights(tiny_bert, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    legacy = tmp_path / "pytorch_model.bin"  # the pre-safetensors format: a torch pickle
    torch.save(load_file(str(tiny_bert / "model.safetensors")), legacy)
    repo = {p.name: p for p in tiny_bert.iterdir() if p.suffix != ".safetensors"}
    repo["pytorch_model.bin"] = legacy
    repo.update(OTHER_REPO_FILES)
    calls = fake_hub(monkeypatch, repo, tmp_path / "hub")
    vectors = BertVectorizer("someone/legacy-bert", progress=False).fit(TEXTS).transform(TEXTS)
    hub = tmp_path / "hub" / "someone--legacy-bert"
    got = sorted(p.relative_to(hub).as_posix() for p in hub.rglob("*") if p.is_file())
    assert "pytorch_model.bin" in got and not set(got) & set(OTHER_REPO_FILES), got
    assert len(calls) == 2
    reference = BertVectorizer(str(tiny_bert), progress=False).fit(TEXTS).transform(TEXTS)
    np.testing.assert_allclose(vectors, reference, atol=1e-6)


# -- weight checks for every head ------------------------------------------------------
@pytest.fixture(scope="module")
def foreign_weights(tmp_path_factory, tiny_bert) -> Path:
    """A BERT config.json over DistilBERT weights: transformers would fill the BERT
    encoder with random numbers and only log it."""
    from transformers import DistilBertConfig, DistilBertModel

    folder = tmp_path_factory.mktemp("foreign")
    torch.manual_seed(0)
    config = DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=37)
    DistilBertModel(config).save_pretrained(folder)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (tiny_bert / name).is_file():
            shutil.copy(tiny_bert / name, folder / name)
    return folder


def test_fine_tuning_refuses_an_encoder_that_would_be_random(foreign_weights):
    with pytest.raises(ValueError, match=r"weights are missing from the files .*They would be random"):
        FineTuneClassifier(str(foreign_weights), max_epochs=1, device="cpu").fit(["good", "bad"] * 4, [1, 0] * 4)


def test_a_saved_classifier_must_hold_its_head(tiny_bert):
    """An encoder folder read as a fine-tuned classifier would predict with a random head."""
    with pytest.raises(ValueError, match=r"holds no trained BertForSequenceClassification head: classifier"):
        FineTuneClassifier.from_pretrained(tiny_bert)


@pytest.mark.parametrize("head", ["sequence-classification", "token-classification"])
def test_a_fresh_head_sits_on_the_files_encoder(tiny_bert, head):
    from transformers import BertModel

    module = load_module(tiny_bert, head, fresh_head=True, num_labels=5)
    assert module.classifier.out_features == 5
    reference = BertModel.from_pretrained(str(tiny_bert)).state_dict()
    encoder = module.base_model.state_dict()
    for name, tensor in encoder.items():
        if not name.startswith("pooler."):
            torch.testing.assert_close(tensor, reference[name], rtol=0, atol=0)
    with pytest.raises(ValueError, match="holds no trained"):
        load_module(tiny_bert, head)  # the same folder read as a trained model: refused


def test_eager_attention_matches_a_direct_forward_pass(tiny_bert):
    from transformers import AutoModel, AutoTokenizer

    loaded = load_model(tiny_bert, "cpu", "float32", attention="eager")
    encoded = AutoTokenizer.from_pretrained(str(tiny_bert))("time flies like an arrow", return_tensors="pt")
    reference = AutoModel.from_pretrained(str(tiny_bert), attn_implementation="eager").eval()
    with torch.inference_mode():
        got = loaded.model(**encoded, output_attentions=True).attentions
        want = reference(**encoded, output_attentions=True).attentions
    assert len(got) == 2
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


# -- lifetime ------------------------------------------------------------------------
def test_registry_keeps_the_latest_models_and_frees_on_request(tiny_bert, minilm_path, monkeypatch):
    monkeypatch.setenv("BERTFEAT_MAX_MODELS", "1")
    free_models()
    first = load_model(tiny_bert, "cpu")
    gone = weakref.ref(first.model)
    del first
    load_model(minilm_path, "cpu")  # the registry now holds this one only
    gc.collect()
    assert gone() is None, "a model nobody uses outlived its eviction"
    assert store_stats()["held"] == 1

    vec = BertVectorizer(tiny_bert, device="cpu", progress=False).fit(TEXTS)
    load_model(minilm_path, "cpu")  # evicts tiny_bert from the registry, but vec still uses it
    loads = store_stats()["loads"]
    assert BertVectorizer(tiny_bert, device="cpu", progress=False).fit(TEXTS)._load() is vec._load()
    assert store_stats()["loads"] == loads  # found again, not read twice

    assert free_models() == 1
    assert store_stats()["held"] == 0
    held_by_vec = weakref.ref(vec._load().model)
    del vec
    gc.collect()
    assert held_by_vec() is None


def test_loading_leaves_transformers_logging_as_the_user_set_it(tiny_bert):
    from transformers.utils import logging as hf_logging

    free_models()
    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_info()
    try:
        load_model(tiny_bert, "cpu")
        load_module(tiny_bert, "sequence-classification", fresh_head=True, num_labels=2)
        assert hf_logging.get_verbosity() == hf_logging.INFO
        assert hf_logging.is_progress_bar_enabled()
    finally:
        hf_logging.set_verbosity(before)


def test_a_model_in_memory_is_fingerprinted_by_its_weights(tiny_bert):
    module = load_module(tiny_bert, "sequence-classification", fresh_head=True, num_labels=2)
    tokenizer = load_model(tiny_bert, "cpu").tokenizer
    first = from_module(module, tokenizer, str(tiny_bert), torch.device("cpu"), torch.float32)
    assert len(first.fingerprint) == 64 and first.dtype == torch.float32
    twin = from_module(copy.deepcopy(module), tokenizer, str(tiny_bert), torch.device("cpu"), torch.float32)
    assert twin.fingerprint == first.fingerprint
    with torch.no_grad():
        module.classifier.weight[0, 0] += 1.0  # trained further, in place
    changed = from_module(module, tokenizer, str(tiny_bert), torch.device("cpu"), torch.float32)
    assert changed.fingerprint != first.fingerprint
