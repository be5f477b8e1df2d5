"""The disk cache: hits spare the model, keys separate setups, damage and crashes never leak."""

from __future__ import annotations

import gc
import hashlib
import json
import mmap
import os
import shutil
import sqlite3
import struct
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
from bertfeat._cache_files import DATA_SUFFIX

TEXTS = [f"sentence number {i} about {'cats' if i % 2 else 'dogs'}" for i in range(60)]
ROOT = Path(__file__).resolve().parents[1]


def data_files(cache_dir) -> list[Path]:
    return sorted(p for p in Path(cache_dir).rglob(f"*{DATA_SUFFIX}") if p.is_file())


def index_rows(cache_dir, sql: str) -> list[tuple]:
    """Ask the index directly (read-only), as a person inspecting the folder would."""
    (path,) = Path(cache_dir).rglob("index.sqlite")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


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


@pytest.mark.parametrize("damage, n_damaged", [("flip", 1), ("truncate", 30), ("garbage", 60)])
def test_damaged_data_file_is_detected_and_recomputed(tiny_bert, tmp_path, damage, n_damaged, count_forward):
    vec = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    clean = vec.transform(TEXTS)
    del vec
    gc.collect()
    (data_file,) = data_files(tmp_path)
    data = bytearray(data_file.read_bytes())
    if damage == "flip":
        data[-7] ^= 0xFF  # inside the last record's vector
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data = bytearray(b"not a data file at all")
    data_file.write_bytes(bytes(data))
    count_forward.clear()
    fresh = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    with pytest.warns(RuntimeWarning, match="damaged entry ignored and recomputed"):
        again = fresh.transform(TEXTS)
    assert sum(count_forward) == n_damaged, "exactly the damaged entries are recomputed"
    np.testing.assert_allclose(again, clean, atol=1e-6)
    assert index_rows(tmp_path, "SELECT count(*) FROM quarantine") == [(n_damaged,)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # recomputed vectors were stored again, whole
        later = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
        np.testing.assert_allclose(later.transform(TEXTS), clean, atol=1e-6)
    assert later.cache_info()["hits"] == len(TEXTS)


def test_damage_after_indexing_is_still_caught(tiny_bert, tmp_path):
    vec = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    clean = vec.transform(TEXTS)
    (data_file,) = data_files(tmp_path)
    data = bytearray(data_file.read_bytes())
    data[-3] ^= 0x10
    data_file.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="checksum"):
        again = vec.transform(TEXTS)  # same instance: it has the file mapped already
    np.testing.assert_allclose(again, clean, atol=1e-6)


def test_unwritable_cache_degrades_to_off_with_one_warning(tiny_bert, tmp_path, monkeypatch):
    import bertfeat._cache_files as cache_files

    vec = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    vec.transform(TEXTS[:10])
    before = {p: p.read_bytes() for p in data_files(tmp_path)}

    def disk_full(fd):  # the data reached the file, then the disk filled up
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_files.os, "fsync", disk_full)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = vec.transform(TEXTS)
        got_again = vec.transform(TEXTS[30:] + ["one more"])
    messages = [str(w.message) for w in caught if "cannot be written" in str(w.message)]
    assert len(messages) == 1 and "No space left" in messages[0]
    want = BertVectorizer(model=str(tiny_bert)).fit(TEXTS).transform(TEXTS)
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(got_again[:-1], want[30:], atol=1e-6)
    monkeypatch.undo()
    assert {p: p.read_bytes() for p in data_files(tmp_path)} == before  # the unsynced tail was cut off
    assert not list(Path(tmp_path).rglob(".tmp-*"))
    assert index_rows(tmp_path, "SELECT count(*) FROM entries") == [(10,)]  # nothing unsynced was published


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
    assert info["entries"] == len(TEXTS) and info["files"] == 1 and info["bytes"] > len(TEXTS) * 32 * 4
    other = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path, pooling="cls").fit(TEXTS)
    other.transform(TEXTS)
    vec.clear_cache()
    assert vec.cache_info()["entries"] == 0
    assert other.cache_info()["entries"] == len(TEXTS)  # other setups are kept


def test_compact_merges_data_files_and_keeps_every_vector(tiny_bert, tmp_path):
    vec = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    for start in range(0, 60, 15):  # each clone writes its own data file
        clone(vec).fit(TEXTS).transform(TEXTS[start : start + 15])
    gc.collect()
    before = vec.transform(TEXTS)
    assert len(data_files(tmp_path)) == 4
    vec._cache().compact()
    assert len(data_files(tmp_path)) == 1
    fresh = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    np.testing.assert_array_equal(fresh.transform(TEXTS), before)
    assert fresh.cache_info()["hits"] == len(TEXTS)


WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    import bertfeat._cache as cache
    import bertfeat._encode as encode
    from bertfeat import BertVectorizer
    encode.STREAM_CHUNK = int(sys.argv[4])
    cache.PUBLISH_SECONDS = 0  # every chunk published at once: the most transactions to interleave
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
    def published() -> int:
        try:
            return index_rows(cache, "SELECT count(*) FROM entries")[0][0]
        except (ValueError, sqlite3.Error):  # no index yet, or no table yet
            return 0

    while time.time() < deadline and published() < 30:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "never.npy").exists(), "the writer finished before it was killed"
    texts = [f"shared text {i}" for i in range(400)]
    reader = BertVectorizer(model=str(tiny_bert), cache_dir=cache).fit(texts)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no entry may look damaged: rows are published after their data
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
    again.transform(TEXTS[5:10])  # a second data file (this clone's), so that compact has two to merge
    again._cache().compact()
    count_forward.clear()
    np.testing.assert_array_equal(clone(vec).fit(texts).transform(texts), first)
    assert count_forward == []
    assert clone(vec).fit(texts).cache_info()["entries"] == 13


def test_a_writer_stopped_between_data_and_index_publishes_nothing(tiny_bert, tmp_path, monkeypatch):
    """The data of a chunk is fsynced, then its index rows are published in one transaction:
    a process stopped in between leaves bytes nobody reads, never a half entry."""
    import bertfeat._cache_index as cache_index

    vec = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    vec.transform(TEXTS[:20])
    real_publish = cache_index.publish

    def killed(db, rows):
        raise SystemExit("killed after the data was written, before the index")

    monkeypatch.setattr(cache_index, "publish", killed)
    with pytest.raises(SystemExit):
        vec.transform(TEXTS)
    monkeypatch.setattr(cache_index, "publish", real_publish)
    assert sum(p.stat().st_size for p in data_files(tmp_path)) == 60 * (16 + 32 * 4)  # the 40 were written
    assert index_rows(tmp_path, "SELECT count(*) FROM entries") == [(20,)]
    reader = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = reader.transform(TEXTS)
    assert reader.cache_info()["hits"] == 20
    want = BertVectorizer(model=str(tiny_bert)).fit(TEXTS).transform(TEXTS)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_a_lookup_reads_only_the_entries_it_asks_for(tiny_bert, tmp_path):
    """Shown through damage: a damaged entry goes unnoticed by lookups of other texts (they
    never read it), and is caught as soon as its own text is asked for."""
    vec = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    clean = vec.transform(TEXTS)
    del vec
    gc.collect()
    (data_file,) = data_files(tmp_path)
    data = bytearray(data_file.read_bytes())
    data[-7] ^= 0xFF  # the last text's vector
    data_file.write_bytes(bytes(data))
    reader = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(reader.transform(TEXTS[:59]), clean[:59])
    with pytest.warns(RuntimeWarning, match="row 59 checksum mismatch"):
        np.testing.assert_allclose(reader.transform(TEXTS[58:]), clean[58:], atol=1e-6)
    assert reader.cache_info()["hits"] == 59 + 1


@pytest.mark.parametrize("damage", ["header", "pages"])
def test_damaged_index_is_moved_aside_with_one_warning(tiny_bert, tmp_path, damage):
    """Flipped bytes in the SQLite file ("file is not a database" / "malformed"): one warning,
    the index moved aside, right vectors, and the next vectorizer starts a fresh index."""
    want = BertVectorizer(model=str(tiny_bert)).fit(TEXTS).transform(TEXTS)
    BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS).transform(TEXTS)
    gc.collect()
    (path,) = Path(tmp_path).rglob("index.sqlite")
    data = bytearray(path.read_bytes())
    if damage == "header":
        data[:16] = b"garbage garbage!"
    else:  # every page after the first: the tables' b-trees
        data[4096:] = bytes(0xA5 for _ in range(len(data) - 4096))
    path.write_bytes(bytes(data))
    vec = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = [vec.transform(TEXTS), vec.transform(TEXTS[::-1])]
    messages = [str(w.message) for w in caught if "bertfeat cache" in str(w.message)]
    assert len(messages) == 1 and "the index is damaged" in messages[0], messages
    np.testing.assert_allclose(got[0], want, atol=1e-6)
    np.testing.assert_allclose(got[1], want[::-1], atol=1e-6)
    assert list(path.parent.glob("index.sqlite.corrupt-*"))
    fresh = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(fresh.transform(TEXTS), want, atol=1e-6)
        np.testing.assert_allclose(clone(fresh).fit(TEXTS).transform(TEXTS), want, atol=1e-6)
    assert fresh.cache_info()["entries"] == len(TEXTS)


def write_format1_shard(path: Path, keys: list[bytes], vectors: np.ndarray) -> None:
    """A shard as bertfeat wrote them before the SQLite index (format 1, from its spec)."""
    payload = b"".join(keys) + np.ascontiguousarray(vectors, dtype="<f4").tobytes()
    header = struct.pack("<8sQQ32s", b"BFSHARD1", len(keys), vectors.shape[1], hashlib.blake2b(payload, digest_size=32).digest())
    path.write_bytes(header + payload)


def format1_folder(tiny_bert, tmp_path) -> tuple[Path, np.ndarray]:
    from bertfeat._cache import text_key

    want = BertVectorizer(model=str(tiny_bert)).fit(TEXTS).transform(TEXTS)
    folder = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)._cache().folder
    folder.mkdir(parents=True)
    (folder / "setup.json").write_text(json.dumps({"dim": 32}))
    keys = [text_key(t) for t in TEXTS]
    write_format1_shard(folder / "00000000000000000001-1-aaaaaaaa.shard", keys[:30], want[:30])
    write_format1_shard(folder / "00000000000000000002-1-bbbbbbbb.shard", keys[30:], want[30:])
    return folder, want


def test_format1_shards_are_verified_and_imported_once(tiny_bert, tmp_path, count_forward):
    folder, want = format1_folder(tiny_bert, tmp_path)
    count_forward.clear()
    vec = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = vec.transform(TEXTS[::-1])
    assert count_forward == []
    np.testing.assert_array_equal(got, want[::-1])
    assert not list(folder.glob("*.shard")) and json.loads((folder / "setup.json").read_text())["format"] == 2
    assert vec.cache_info()["entries"] == len(TEXTS)


def test_damaged_format1_shard_is_set_aside_and_recomputed(tiny_bert, tmp_path, count_forward):
    folder, want = format1_folder(tiny_bert, tmp_path)
    damaged = folder / "00000000000000000002-1-bbbbbbbb.shard"
    data = bytearray(damaged.read_bytes())
    data[-5] ^= 0xFF
    damaged.write_bytes(bytes(data))
    count_forward.clear()
    vec = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    with pytest.warns(RuntimeWarning, match="damaged shard of format 1 not imported.*checksum mismatch"):
        got = vec.transform(TEXTS)
    assert sum(count_forward) == 30
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert damaged.with_name(damaged.name + ".corrupt").exists()


def test_a_forked_child_opens_its_own_connection(tiny_bert, tmp_path):
    """sqlite3 connections must not cross fork: the child reopens and both sides keep working."""
    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    from bertfeat._cache import VectorCache, text_key

    cache = VectorCache(tmp_path, "setup", 4)
    keys = [text_key(f"text {i}") for i in range(20)]
    vectors = np.arange(80, dtype=np.float32).reshape(20, 4)
    cache.put(keys[:10], vectors[:10])
    cache.flush()  # as at the end of a transform
    assert cache.get(keys[:10])[0].all()  # the parent's connection and map are open now
    pid = os.fork()
    if pid == 0:  # the child: read what the parent wrote, add its own, exit without cleanup
        ok = False
        try:
            found, got = cache.get(keys[:10])
            cache.put(keys[10:], vectors[10:])
            cache.flush()
            ok = bool(found.all()) and np.array_equal(got, vectors[:10]) and cache._pid == os.getpid()
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    found, got = cache.get(keys)
    assert found.all()
    np.testing.assert_array_equal(got, vectors)


@pytest.mark.skipif(not hasattr(mmap, "MADV_WILLNEED"), reason="no madvise read-ahead hints on this platform")
def test_a_lookup_hints_exactly_the_pages_of_the_records_it_reads(tmp_path, monkeypatch):
    """From a cold disk the reads are queued together: before copying, the pages holding the
    asked records (found here by searching the file's own bytes) are hinted, and no others."""
    from bertfeat import _cache
    from bertfeat._cache_files import DataFiles

    dim = 384  # 1,552-byte records: most straddle a page boundary
    vectors = np.random.default_rng(0).standard_normal((300, dim), dtype=np.float32)
    keys = [_cache.text_key(f"text {i}") for i in range(300)]
    writer = _cache.VectorCache(tmp_path, "setup", dim)
    writer.put(keys, vectors)
    writer.close()

    hinted = []

    class Recorder:
        def __init__(self, real):
            self.real = real

        def madvise(self, option, start, length):
            assert option == mmap.MADV_WILLNEED and start % mmap.PAGESIZE == 0
            hinted.extend(range(start // mmap.PAGESIZE, (start + length - 1) // mmap.PAGESIZE + 1))
            return self.real.madvise(option, start, length)

    real_map = DataFiles._map

    def recording_map(self, db, file_id, need_rows):
        mapped = real_map(self, db, file_id, need_rows)
        if not isinstance(self.mmaps.get(file_id), Recorder):
            self.mmaps[file_id] = Recorder(self.mmaps[file_id])
        return mapped

    monkeypatch.setattr(DataFiles, "_map", recording_map)
    asked = [5, 17, 18, 150, 151, 152, 299]
    found, got = _cache.VectorCache(tmp_path, "setup", dim).get([keys[i] for i in asked])
    assert found.all()
    np.testing.assert_array_equal(got, vectors[asked])

    (data_file,) = data_files(tmp_path)
    raw = data_file.read_bytes()
    size = 16 + 4 * dim
    expected = set()
    for i in asked:
        offset = raw.find(keys[i])
        assert offset % size == 0
        expected |= set(range(offset // mmap.PAGESIZE, (offset + size - 1) // mmap.PAGESIZE + 1))
    assert set(hinted) == expected
