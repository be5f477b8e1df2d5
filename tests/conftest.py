"""Shared fixtures: the tiny random BERTs, the embedded MiniLM, the shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """``BERTFEAT_SHARED`` or ``../shared`` (a worktree elsewhere names it)."""
    return Path(os.environ.get("BERTFEAT_SHARED", ROOT.parent / "shared"))


def data_dir() -> Path | None:
    """``BERTFEAT_DATA`` or ``../shared/data``; None when absent."""
    path = Path(os.environ.get("BERTFEAT_DATA", shared_dir() / "data"))
    return path if path.is_dir() else None


def chinese_vocab_dir() -> Path | None:
    path = shared_dir() / "models" / "bert-base-chinese-tokenizer"
    return path if (path / "vocab.txt").is_file() else None


def build_tiny_bert(folder: Path, tokenizer_dir: Path, **overrides) -> Path:
    """A random 2-layer BERT with a real vocabulary, saved as a Hugging Face folder."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    settings = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=512,
        type_vocab_size=2,
    )
    settings.update(overrides)
    torch.manual_seed(0)
    model = BertModel(BertConfig(**settings))
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def assert_same_after_reload(got, want) -> None:
    """Outputs of a model read back from its saved files against the original's: equal to
    float32 rounding, not bit for bit. Weights read from a mapped safetensors file sit at
    other memory alignments than freshly trained ones, and oneDNN picks kernels by
    alignment (seen in CI: one output of 30 off by 1.9e-9). Check the weights themselves
    bit for bit where that matters."""
    import numpy as np

    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    from bertfeat._store import default_model_path

    return Path(default_model_path())


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory, minilm_path) -> Path:
    """Tiny random BERT (hidden 32, 2 layers) with the MiniLM English vocabulary."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), minilm_path)


@pytest.fixture(scope="session")
def tiny_chinese_bert(tmp_path_factory) -> Path:
    folder = chinese_vocab_dir()
    if folder is None:
        pytest.skip("../shared/models/bert-base-chinese-tokenizer is absent")
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-zh-bert"), folder)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    folder = data_dir()
    if folder is None:
        pytest.skip("shared data folder absent (set BERTFEAT_DATA)")
    return folder
