"""The disk cache: hits spare the model, keys separate setups, damage and crashes never leak."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

import bertfeat._encode as encode
from bertfeat import BertVectorizer
from bertfeat._cache import SHARD_SUFFIX

TEXTS = [f"sentence number {i} about {'cats' if i % 2 else 'dogs'}" for i in range(60)]
ROOT = Path(__file__).resolve().parents[1]


def shards(cache_dir) -> list[Path]:
    return sorted(Path(cache_dir).rglob(f"*{SHARD_SUFFIX}"))


@pytest.fixture
def count_forward(monkeypatch):
    calls = []
    real = encode._forward

    def counting(loaded, arrays, opts):
        calls.append(len(arrays["input_ids"]))
        return real(loaded, arrays, opts)

    monkeypatch.setattr(encode, "_forward", counting)
    return calls


def test_warm_cache_returns_identical_vectors_without_the_model(minilm_path, tmp_path, count_forward):
    cold = BertVectorizer(model=str(minilm_path), cache_dir=tmp_path).fit(TEXTS)
    first = cold.transform(TEXTS)
    assert count_forward, "the cold run must run the model"
    count_forward.clear()
    warm = BertVectorizer(model=str(minilm_path), cache_dir=tmp_path).fit(TEXTS)
    second = warm.transform(TEXTS[::-1])
    assert count_forward == []
    np.testing.assert_array_equal(second[::-1], first)
    info = warm.cache_info()
    assert info["entries"] == len(TEXTS) and info["hits"] == len(TEXTS) and info["misses"] == 0


def test_partial_hits_encode_only_the_misses(tiny_bert, tmp_path, count_forward):
    vec = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    vec.transform(TEXTS[:40])
    count_forward.clear()
    out = vec.transform(TEXTS)
    assert sum(count_forward) == 20
    no_cache = BertVectorizer(model=str(tiny_bert)).fit(TEXTS).transform(TEXTS)
    np.testing.assert_allclose(out, no_cache, atol=1e-6)


@pytest.mark.parametrize(
    "change",
    [
        {"pooling": "cls"},
        {"normalize": True},
        {"max_length": 8},
        {"layers": [-2]},
        {"layers": [-2, -1], "layer_agg": "concat"},
        {"truncation": "chunk", "max_length": 8, "stride": 2},
    ],
)
def test_every_vector_option_is_part_of_the_key(tiny_bert, tmp_path, change):
    BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS).transform(TEXTS)
    other = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path, **change).fit(TEXTS)
    got = other.transform(TEXTS)
    assert other.cache_info()["hits"] == 0
    want = BertVectorizer(model=str(tiny_bert), **change).fit(TEXTS).transform(TEXTS)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_batch_settings_share_the_cache(tiny_bert, tmp_path):
    BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path, batch_size=4).fit(TEXTS).transform(TEXTS)
    other = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path, batch_size=16, token_budget=256).fit(TEXTS)
    other.transform(TEXTS)
    assert other.cache_info()["hits"] == len(TEXTS)


def test_retrained_model_saved_over_the_old_one_is_not_served_old_vectors(tiny_bert, tmp_path):
    import torch
    from transformers import AutoModel

    folder = tmp_path / "model"
    shutil.copytree(tiny_bert, folder)
    cache = tmp_path / "cache"
    old = BertVectorizer(model=str(folder), cache_dir=cache).fit(TEXTS).transform(TEXTS)
    model = AutoModel.from_pretrained(str(folder))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05)
    time.sleep(0.01)
    model.save_pretrained(str(folder))
    new_vec = BertVectorizer(model=str(folder), cache_dir=cache).fit(TEXTS)
    new = new_vec.transform(TEXTS)
    assert new_vec.cache_info()["hits"] == 0
    assert np.abs(new - old).max() > 1e-3


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
def test_damaged_shard_is_detected_and_recomputed(tiny_bert, tmp_path, damage, count_forward):
    vec = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    clean = vec.transform(TEXTS)
    (shard,) = shards(tmp_path)
    data = bytearray(shard.read_bytes())
    if damage == "flip":
        data[-7] ^= 0xFF  # inside the vectors
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data = bytearray(b"not a shard at all")
    shard.write_bytes(bytes(data))
    count_forward.clear()
    fresh = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    with pytest.warns(RuntimeWarning, match="damaged shard"):
        again = fresh.transform(TEXTS)
    assert count_forward, "damaged entries must be recomputed"
    np.testing.assert_allclose(again, clean, atol=1e-6)
    assert not shard.exists() and shard.with_name(shard.name + ".corrupt").exists()


def test_damage_after_indexing_is_still_caught(tiny_bert, tmp_path):
    vec = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    clean = vec.transform(TEXTS)
    (shard,) = shards(tmp_path)
    data = bytearray(shard.read_bytes())
    data[-3] ^= 0x10
    shard.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="checksum"):
        again = vec.transform(TEXTS)  # same instance: its index already knew the shard
    np.testing.assert_allclose(again, clean, atol=1e-6)


def test_unwritable_cache_degrades_to_off_with_one_warning(tiny_bert, tmp_path, monkeypatch):
    import bertfeat._cache as cache_module

    vec = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    vec.transform(TEXTS[:10])
    before = {p: p.read_bytes() for p in shards(tmp_path)}
    real_open = open

    def disk_full(path, mode="r", *args, **kwargs):
        if "w" in mode and ".tmp-" in str(path):
            raise OSError(28, "No space left on device")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(cache_module, "open", disk_full, raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = vec.transform(TEXTS)
        got_again = vec.transform(TEXTS[30:] + ["one more"])
    messages = [str(w.message) for w in caught if "cannot be written" in str(w.message)]
    assert len(messages) == 1 and "No space left" in messages[0]
    want = BertVectorizer(model=str(tiny_bert)).fit(TEXTS).transform(TEXTS)
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(got_again[:-1], want[30:], atol=1e-6)
    assert {p: p.read_bytes() for p in shards(tmp_path)} == before
    assert not list(Path(tmp_path).rglob(".tmp-*"))


def test_cache_survives_clone_and_pickle(tiny_bert, tmp_path, count_forward):
    import pickle

    vec = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    vec.transform(TEXTS)
    count_forward.clear()
    clone(vec).fit(TEXTS).transform(TEXTS)
    pickle.loads(pickle.dumps(vec)).transform(TEXTS)
    assert count_forward == []


def test_cache_info_and_clear(tiny_bert, tmp_path):
    vec = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    assert vec.cache_info()["entries"] == 0
    vec.transform(TEXTS)
    info = vec.cache_info()
    assert info["entries"] == len(TEXTS) and info["shards"] == 1 and info["bytes"] > len(TEXTS) * 32 * 4
    other = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path, pooling="cls").fit(TEXTS)
    other.transform(TEXTS)
    vec.clear_cache()
    assert vec.cache_info()["entries"] == 0
    assert other.cache_info()["entries"] == len(TEXTS)  # other setups are kept


def test_compact_merges_shards_and_keeps_every_vector(tiny_bert, tmp_path):
    vec = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    for start in range(0, 60, 15):
        vec.transform(TEXTS[start : start + 15])
    before = vec.transform(TEXTS)
    assert len(shards(tmp_path)) == 4
    vec._cache().compact()
    assert len(shards(tmp_path)) == 1
    fresh = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    np.testing.assert_array_equal(fresh.transform(TEXTS), before)
    assert fresh.cache_info()["hits"] == len(TEXTS)


WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    import bertfeat._encode as encode
    from bertfeat import BertVectorizer
    encode.STREAM_CHUNK = int(sys.argv[4])
    model, cache, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
    texts = [f"shared text {i}" for i in range(start, start + 400)]
    vec = BertVectorizer(model=model, cache_dir=cache, progress=False).fit(texts)
    out = vec.transform(texts)
    np.save(sys.argv[5], out)
    """
)


def _run_writer(args, **kwargs):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", WRITER, *map(str, args)], env=env, **kwargs)


def test_two_processes_writing_one_cache_lose_and_mix_nothing(tiny_bert, tmp_path):
    cache = tmp_path / "cache"
    procs = [_run_writer([tiny_bert, cache, start, 50, tmp_path / f"out{start}.npy"]) for start in (0, 200)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    texts = [f"shared text {i}" for i in range(600)]
    reference = BertVectorizer(model=str(tiny_bert)).fit(texts).transform(texts)
    np.testing.assert_allclose(np.load(tmp_path / "out0.npy"), reference[:400], atol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "out200.npy"), reference[200:], atol=1e-6)
    reader = BertVectorizer(model=str(tiny_bert), cache_dir=cache).fit(texts)
    np.testing.assert_allclose(reader.transform(texts), reference, atol=1e-6)
    assert reader.cache_info()["hits"] == 600


def test_process_killed_mid_run_leaves_no_half_entry(tiny_bert, tmp_path):
    cache = tmp_path / "cache"
    proc = _run_writer([tiny_bert, cache, 0, 10, tmp_path / "never.npy"])
    deadline = time.time() + 120
    while time.time() < deadline and len(shards(cache)) < 3:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "never.npy").exists(), "the writer finished before it was killed"
    texts = [f"shared text {i}" for i in range(400)]
    reader = BertVectorizer(model=str(tiny_bert), cache_dir=cache).fit(texts)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no shard may look damaged: writes are atomic
        got = reader.transform(texts)
    info = reader.cache_info()
    assert 0 < info["hits"] < 400
    reference = BertVectorizer(model=str(tiny_bert)).fit(texts).transform(texts)
    np.testing.assert_allclose(got, reference, atol=1e-6)


def test_keys_ending_in_a_nul_byte_are_found_again(tiny_bert, tmp_path, count_forward):
    # numpy "S16" arrays drop trailing NUL bytes; such keys (1 text in 256) once never hit.
    from bertfeat._cache import text_key

    nul = [t for t in (f"nul key candidate {i}" for i in range(3000)) if text_key(t).endswith(b"\0")][:3]
    assert len(nul) == 3
    texts = nul + TEXTS[:5]
    vec = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(texts)
    first = vec.transform(texts)
    count_forward.clear()
    again = clone(vec).fit(texts)
    np.testing.assert_array_equal(again.transform(texts), first)
    assert count_forward == []
    again.transform(TEXTS[5:10])  # a second shard, so that compact has two to merge
    again._cache().compact()
    count_forward.clear()
    np.testing.assert_array_equal(clone(vec).fit(texts).transform(texts), first)
    assert count_forward == []
    assert clone(vec).fit(texts).cache_info()["entries"] == 13
