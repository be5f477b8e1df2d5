"""Faults: out of memory, unwritable caches, many processes on one cache, model files
gone or damaged under a pickle. Nothing may be lost, nothing may be wrong."""

from __future__ import annotations

import gc
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

import bertfeat._encode as encode
from bertfeat import BertVectorizer

ROOT = Path(__file__).resolve().parents[1]
TEXTS = [f"sentence number {i} about {'cats' if i % 2 else 'dogs'}" for i in range(60)]


# -- out of memory -------------------------------------------------------------------
def fake_oom(monkeypatch, above: int):
    """Make every forward pass of more than ``above`` windows raise a CUDA OOM."""
    import torch

    real = encode._forward
    sizes = []

    def forward(loaded, arrays, opts):
        sizes.append(len(arrays["input_ids"]))
        if len(arrays["input_ids"]) > above:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(loaded, arrays, opts)

    monkeypatch.setattr(encode, "_forward", forward)
    return sizes


def test_out_of_memory_at_batch_size_one_is_a_clear_error(tiny_bert, monkeypatch):
    import torch

    fake_oom(monkeypatch, above=0)
    vec = BertVectorizer(model=str(tiny_bert), batch_size=8).fit(TEXTS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the halving warnings
        with pytest.raises(torch.cuda.OutOfMemoryError) as caught:
            vec.transform(TEXTS[:8])
    message = str(caught.value)
    assert "single window of" in message and "no smaller batch to retry" in message
    assert "max_length=512" in message and "Lower max_length" in message
    assert "Tried to allocate 2.00 GiB" in message  # the original cause is kept


@pytest.mark.parametrize(
    "kind, settings",
    [
        ("pairs", {}),
        ("pairs", {"truncation": "chunk", "max_length": 16, "stride": 4}),
        ("texts", {"truncation": "chunk", "max_length": 16, "stride": 4}),
    ],
)
def test_out_of_memory_halving_gives_the_small_batch_results(tiny_bert, monkeypatch, kind, settings):
    if kind == "pairs":
        X = [(f"question {i} " * (1 + i % 3), f"answer number {i} " * (1 + i % 7)) for i in range(30)]
    else:
        X = [f"a long text {i} with many words " * (1 + i % 6) for i in range(30)]
    reference = BertVectorizer(model=str(tiny_bert), batch_size=1, **settings).fit(X).transform(X)
    sizes = fake_oom(monkeypatch, above=3)
    vec = BertVectorizer(model=str(tiny_bert), batch_size=64, token_budget=100_000, **settings).fit(X)
    with pytest.warns(RuntimeWarning, match="out of memory"):
        got = vec.transform(X)
    assert max(sizes) > 3 and min(sizes) <= 3
    np.testing.assert_allclose(got, reference, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="needs CUDA")
def test_real_cuda_out_of_memory_backs_off_and_matches_small_batches(minilm_path):
    """A real CUDA OOM, cheaply: cap this process at a small share of the GPU, then ask for
    one huge batch of long texts."""
    import torch

    texts = [f"{i} " + "a long sentence with many words in it " * 80 for i in range(1500)]
    reference = BertVectorizer(model=str(minilm_path), device="cuda", dtype="float32", batch_size=8).fit(texts)
    want = reference.transform(texts[:32])
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, 2e9 / total))  # about 2 GB
    try:
        vec = BertVectorizer(
            model=str(minilm_path), device="cuda", dtype="float32", batch_size=100_000, token_budget=10**9
        ).fit(texts)
        with pytest.warns(RuntimeWarning, match="out of memory"):
            got = vec.transform(texts)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got[:32], want, atol=1e-4)


# -- cache folder faults --------------------------------------------------------------
def data_files(cache_dir) -> list[Path]:
    return sorted(p for p in Path(cache_dir).rglob("*.vec") if p.is_file())


def index_rows(cache_dir, sql: str) -> list[tuple]:
    import sqlite3

    (path,) = Path(cache_dir).rglob("index.sqlite")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def cache_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if "bertfeat cache" in str(w.message)]


def test_cache_dir_that_is_a_file_degrades_to_off_with_one_warning(tiny_bert, tmp_path):
    # Before: os.listdir raised NotADirectoryError out of transform.
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file where the cache folder should be")
    vec = BertVectorizer(model=str(tiny_bert), cache_dir=not_a_folder).fit(TEXTS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = [vec.transform(TEXTS), vec.transform(TEXTS[::-1])]
    messages = cache_warnings(caught)
    assert len(messages) == 1 and "cannot be read (NotADirectoryError" in messages[0]
    want = BertVectorizer(model=str(tiny_bert)).fit(TEXTS).transform(TEXTS)
    np.testing.assert_allclose(got[0], want, atol=1e-6)
    np.testing.assert_allclose(got[1], want[::-1], atol=1e-6)
    assert not_a_folder.read_text().startswith("a file")


def test_unreadable_data_file_is_skipped_not_a_crash(tiny_bert, tmp_path):
    # Format 1: a folder named like a shard made read_bytes raise IsADirectoryError.
    vec = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    want = vec.transform(TEXTS)
    del vec
    gc.collect()
    (data_file,) = data_files(tmp_path)
    data_file.unlink()
    data_file.mkdir()  # a folder where the data file should be
    fresh = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    with pytest.warns(RuntimeWarning, match=r"damaged entry ignored .*cannot be read \(IsADirectoryError"):
        got = fresh.transform(TEXTS)
    np.testing.assert_allclose(got, want, atol=1e-6)
    later = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        np.testing.assert_allclose(later.transform(TEXTS), want, atol=1e-6)
    assert later.cache_info()["hits"] == len(TEXTS)  # recomputed and stored again


@pytest.fixture
def read_only_cache(monkeypatch):
    """Every write into a cache folder fails as on a read-only mount (root ignores chmod)."""
    import sqlite3

    import bertfeat._cache as cache_module
    import bertfeat._cache_files as cache_files
    import bertfeat._cache_index as cache_index

    real_open, real_replace, real_mkdir = open, os.replace, Path.mkdir

    def refuse(path):
        raise PermissionError(13, "Permission denied (read-only cache)", str(path))

    def ro_open(path, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+"):
            refuse(path)
        return real_open(path, mode, *args, **kwargs)

    def ro_replace(src, dst, *args, **kwargs):
        refuse(dst)

    def ro_mkdir(self, *args, **kwargs):
        if not self.is_dir():
            refuse(self)

    real_sqlite_open = cache_index._open

    def ro_sqlite(uri, create):  # as in a folder where SQLite cannot make its -shm file
        if "immutable=1" not in uri:
            raise sqlite3.OperationalError("unable to open database file")
        return real_sqlite_open(uri, create)

    monkeypatch.setattr(cache_module, "open", ro_open, raising=False)
    monkeypatch.setattr(cache_files, "open", ro_open, raising=False)
    monkeypatch.setattr(cache_index, "_open", ro_sqlite)
    monkeypatch.setattr(cache_module.os, "replace", ro_replace)
    monkeypatch.setattr(Path, "mkdir", ro_mkdir)
    monkeypatch.setattr(Path, "write_text", lambda self, *a, **k: refuse(self))
    yield
    monkeypatch.undo()
    assert os.replace is real_replace and Path.mkdir is real_mkdir


def snapshot(folder) -> dict:
    gc.collect()  # closes the index of vectorizers gone out of scope (SQLite removes -wal/-shm then)
    return {p: p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def test_read_only_cache_serves_hits_computes_misses_and_stays_intact(tiny_bert, tmp_path, request):
    want = BertVectorizer(model=str(tiny_bert)).fit(TEXTS).transform(TEXTS)
    BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS).transform(TEXTS[:30])
    before = snapshot(tmp_path)
    request.getfixturevalue("read_only_cache")
    vec = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = [vec.transform(TEXTS), vec.transform(TEXTS[::-1]), vec.transform(["brand new text"])]
    messages = cache_warnings(caught)
    assert len(messages) == 1 and "cannot be written (PermissionError" in messages[0]
    np.testing.assert_allclose(got[0], want, atol=1e-6)
    np.testing.assert_allclose(got[1], want[::-1], atol=1e-6)
    info = vec.cache_info()
    assert info["hits"] == 30 + 30 and info["disabled"] is not None  # the 30 stored ones, twice
    del vec
    assert snapshot(tmp_path) == before


def test_read_only_cache_with_a_damaged_entry_warns_once(tiny_bert, tmp_path, request):
    vec = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    want = vec.transform(TEXTS)
    del vec
    gc.collect()
    (data_file,) = data_files(tmp_path)
    data = bytearray(data_file.read_bytes())
    data[-5] ^= 0xFF
    data_file.write_bytes(bytes(data))
    request.getfixturevalue("read_only_cache")
    fresh = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = [fresh.transform(TEXTS) for _ in range(3)]
    messages = cache_warnings(caught)
    assert sum("damaged entry" in m for m in messages) == 1, messages
    assert sum("cannot be written" in m for m in messages) == 1, messages
    for g in got:
        np.testing.assert_allclose(g, want, atol=1e-6)
    del fresh
    gc.collect()
    # Could not be quarantined: left as it was, skipped in this process from then on.
    assert index_rows(tmp_path, "SELECT count(*) FROM entries") == [(60,)]
    assert index_rows(tmp_path, "SELECT count(*) FROM quarantine") == [(0,)]


# -- pickles whose model files are damaged ------------------------------------------------
def test_store_weights_pickle_with_a_damaged_embedded_file_is_refused(tiny_bert, tmp_path, monkeypatch):
    monkeypatch.setenv("BERTFEAT_HOME", str(tmp_path / "home"))
    vec = BertVectorizer(model=str(tiny_bert), store_weights=True).fit(TEXTS)
    original = (tiny_bert / "model.safetensors").read_bytes()
    damaged = bytearray(original)
    damaged[-10] ^= 0x01  # one bit inside a weight: the file still loads, the vectors would differ
    blob = pickle.dumps(vec)
    assert blob.count(original) == 1
    blob = blob.replace(original, bytes(damaged))
    with pytest.raises(
        ValueError, match=r"do not match its fingerprint [0-9a-f]{16}\.\.\. .*damaged; nothing was written to"
    ):
        pickle.loads(blob)
    assert not list((tmp_path / "home" / "models").glob("*/config.json"))


def test_half_deleted_restored_model_folder_is_restored_again(tiny_bert, tmp_path, monkeypatch):
    # Before: the fingerprint of the half-deleted folder raised FileNotFoundError on unpickling.
    monkeypatch.setenv("BERTFEAT_HOME", str(tmp_path / "home"))
    vec = BertVectorizer(model=str(tiny_bert), store_weights=True).fit(TEXTS)
    want = vec.transform(TEXTS)
    blob = pickle.dumps(vec)
    restored = Path(pickle.loads(blob)._restored_dir)
    (restored / "config.json").unlink()
    again = pickle.loads(blob)
    assert (restored / "config.json").is_file()
    np.testing.assert_array_equal(again.transform(TEXTS), want)


READ_ONLY_USER = textwrap.dedent(
    """
    import json, sys, warnings, numpy as np
    from bertfeat import BertVectorizer
    model, cache, out = sys.argv[1:4]
    texts = [f"sentence number {i} about {'cats' if i % 2 else 'dogs'}" for i in range(60)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vec = BertVectorizer(model=model, cache_dir=cache, progress=False).fit(texts)
        first, second = vec.transform(texts), vec.transform(texts[::-1])
    np.save(out + "/first.npy", first)
    np.save(out + "/second.npy", second)
    info = vec.cache_info()
    with open(out + "/report.json", "w") as handle:
        json.dump({"warnings": [str(w.message) for w in caught], "hits": info["hits"]}, handle)
    """
)


def unprivileged_command() -> list[str] | None:
    """Run as 'nobody' (uid 65534): as root, chmod does not stop writes."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("setpriv") is None:
        return None
    probe = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-c",
            "import os; print(os.getuid())",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0 or probe.stdout.strip() != "65534":
        return None
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_cache_owned_by_another_user_really_read_only(tiny_bert, tmp_path):
    """A real permission error, not a patched one: the cache belongs to root, the reader is
    'nobody'. Hits are served, misses computed, one warning, the cache stays as it was."""
    import tempfile

    prefix = unprivileged_command()
    if prefix is None:
        pytest.skip("needs root and setpriv to run a process as an unprivileged user")
    shared = Path(tempfile.mkdtemp(prefix="bertfeat-ro-"))  # tmp_path is private to root
    try:
        model = shared / "model"
        shutil.copytree(tiny_bert, model)
        cache, out, home = shared / "cache", shared / "out", shared / "home"
        BertVectorizer(model=str(model), cache_dir=cache).fit(TEXTS).transform(TEXTS[:30])
        for folder in (out, home):
            folder.mkdir()
            folder.chmod(0o777)  # the reader writes its results and caches here only
        for path in [shared, *shared.rglob("*")]:
            if path.is_dir():
                path.chmod(0o777 if path in (out, home) else 0o755)
            else:
                path.chmod(0o644)
        before = snapshot(cache)
        env = dict(
            os.environ,
            PYTHONPATH=str(ROOT),
            OMP_NUM_THREADS="1",
            HOME=str(home),
            HF_HOME=str(home / "hf"),
            BERTFEAT_HOME=str(home / "bertfeat"),
            CUDA_VISIBLE_DEVICES="",
        )
        result = subprocess.run(
            [*prefix, sys.executable, "-c", READ_ONLY_USER, str(model), str(cache), str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=str(shared),
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        report = __import__("json").loads((out / "report.json").read_text())
        messages = [m for m in report["warnings"] if "bertfeat cache" in m]
        assert len(messages) == 1 and "cannot be written (PermissionError" in messages[0], report["warnings"]
        assert report["hits"] == 30 + 30
        want = BertVectorizer(model=str(tiny_bert)).fit(TEXTS).transform(TEXTS)
        np.testing.assert_allclose(np.load(out / "first.npy"), want, atol=1e-6)
        np.testing.assert_allclose(np.load(out / "second.npy"), want[::-1], atol=1e-6)
        assert snapshot(cache) == before
    finally:
        shutil.rmtree(shared, ignore_errors=True)


# -- many processes, one cache ------------------------------------------------------------
def labelled_texts(n=90):
    topics = ["cats", "dogs", "films", "food", "rain", "trains"]
    texts = [f"a note {i} about {topics[i % 6]} and {topics[(i * 7) % 6]}" for i in range(n)]
    return texts, np.array([i % 2 for i in range(n)])


def test_grid_search_with_two_workers_sharing_one_cache(tiny_bert, tmp_path):
    """GridSearchCV(n_jobs=2): two worker processes read and write one cache at once. The
    scores equal a run without cache, and every stored vector equals a fresh forward pass."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    texts, labels = labelled_texts()
    grid = {"vec__pooling": ["mean", "cls"], "clf__C": [0.1, 10.0]}

    def search(cache_dir, n_jobs):
        pipe = Pipeline(
            [
                ("vec", BertVectorizer(model=str(tiny_bert), cache_dir=cache_dir, progress=False)),
                ("clf", LogisticRegression(max_iter=2000)),
            ]
        )
        return GridSearchCV(pipe, grid, cv=3, n_jobs=n_jobs).fit(texts, labels)

    cache = tmp_path / "cache"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no damaged entry, no disabled cache
        shared = search(cache, n_jobs=2)
    plain = search(None, n_jobs=1)
    np.testing.assert_allclose(shared.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"], atol=1e-12)
    assert shared.best_params_ == plain.best_params_
    for pooling in ("mean", "cls"):
        reader = BertVectorizer(model=str(tiny_bert), cache_dir=cache, pooling=pooling).fit(texts)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            got = reader.transform(texts)
        assert reader.cache_info()["hits"] == len(texts)  # every text was stored by the workers
        want = BertVectorizer(model=str(tiny_bert), pooling=pooling).fit(texts).transform(texts)
        np.testing.assert_allclose(got, want, atol=1e-6)
    assert not list(cache.rglob("*.corrupt")) and not list(cache.rglob(".tmp-*"))


SHARER = textwrap.dedent(
    """
    import sys, time, numpy as np, warnings
    import bertfeat._encode as encode
    from bertfeat import BertVectorizer
    warnings.simplefilter("error", RuntimeWarning)
    model, cache, role, out = sys.argv[1:5]
    texts = [f"shared text {i}" for i in range(300)]
    vec = BertVectorizer(model=model, cache_dir=cache, progress=False).fit(texts)
    if role == "compact":  # merges data files while the writers add theirs
        vec.transform(texts[:1])
        cache, merges = vec._cache(), 0
        deadline = time.time() + 120
        while time.time() < deadline and not __import__("os").path.exists(out + ".stop"):
            if cache.info()["files"] > 1:
                merges += cache.compact() > 0
            time.sleep(0.02)
        open(out + ".merges", "w").write(str(merges))
    else:
        from sklearn.base import clone
        encode.STREAM_CHUNK = 7  # many small chunks, each published on its own
        order = texts if role == "forward" else texts[::-1]
        # A fresh vectorizer per 50 texts: each one's data file is finished (released) when
        # it goes, so the compactor merges files while this process goes on writing.
        got = np.concatenate([clone(vec).fit(texts).transform(order[i : i + 50]) for i in range(0, 300, 50)])
        np.save(out, got if role == "forward" else got[::-1])
    """
)


def test_two_scripts_on_the_same_texts_while_a_third_compacts(tiny_bert, tmp_path):
    """Two processes write the same 300 texts (in opposite orders, so they collide on every
    key) while a third keeps compacting the data files. Nothing is lost or mixed."""
    cache = tmp_path / "cache"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="")

    def start(role):
        return subprocess.Popen(
            [sys.executable, "-c", SHARER, str(tiny_bert), str(cache), role, str(tmp_path / role)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )

    compactor = start("compact")
    writers = [start("forward"), start("backward")]
    try:
        results = [w.wait(timeout=300) for w in writers]
    finally:
        (tmp_path / "compact.stop").touch()
    compactor_rc = compactor.wait(timeout=120)
    assert results == [0, 0], [w.stderr.read()[-6000:] for w in writers]
    assert compactor_rc == 0, compactor.stderr.read()[-2000:]
    assert int((tmp_path / "compact.merges").read_text()) > 0, "no compaction ran during the writes"
    texts = [f"shared text {i}" for i in range(300)]
    want = BertVectorizer(model=str(tiny_bert)).fit(texts).transform(texts)
    np.testing.assert_allclose(np.load(tmp_path / "forward.npy"), want, atol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "backward.npy"), want, atol=1e-6)
    reader = BertVectorizer(model=str(tiny_bert), cache_dir=cache).fit(texts)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = reader.transform(texts)
    assert reader.cache_info()["hits"] == 300
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert not list(cache.rglob("*.corrupt"))


def test_unpickled_pipeline_whose_model_folder_is_gone_names_folder_and_fingerprint(tiny_bert, tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    folder = tmp_path / "model"
    shutil.copytree(tiny_bert, folder)
    labels = [i % 2 for i in range(len(TEXTS))]
    pipe = make_pipeline(BertVectorizer(model=str(folder)), LogisticRegression()).fit(TEXTS, labels)
    fingerprint = pipe[0].model_fingerprint_
    blob = pickle.dumps(pipe)
    shutil.rmtree(folder)
    with pytest.raises(FileNotFoundError) as caught:
        pickle.loads(blob).predict(TEXTS)
    message = str(caught.value)
    assert f"model folder {str(folder)!r} does not exist" in message
    assert f"fingerprint {fingerprint[:16]}" in message and "store_weights=True" in message


def test_a_data_file_still_being_written_by_another_process_is_left_alone(tiny_bert, tmp_path):
    """A data file a live writer holds (advisory lock) is neither read, merged nor deleted,
    however old it looks; once released, an unindexed one is removed as a stale temporary.
    (Format 1: readers took a half-written shard for damage, compact() deleted it.)"""
    import fcntl

    vec = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    vec.transform(TEXTS[:30])
    clone(vec).fit(TEXTS).transform(TEXTS[30:])
    del vec
    gc.collect()
    (first, _) = data_files(tmp_path)
    in_flight = first.parent / ("99999999999999999999-1-abcdef12.vec")
    in_flight.write_bytes(first.read_bytes()[:40])  # a writer halfway through its first record
    old = __import__("time").time() - 7200
    os.utime(in_flight, (old, old))
    holder = open(in_flight, "rb+")
    fcntl.flock(holder.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        reader = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            reader.transform(TEXTS)
            reader._cache().compact()
            reader._cache().remove_stale_temporaries()
        assert in_flight.exists() and not list(tmp_path.rglob("*.corrupt*"))
        assert len(data_files(tmp_path)) == 2  # the two finished files merged into one; in_flight kept
    finally:
        holder.close()
    reader._cache().remove_stale_temporaries()
    assert not in_flight.exists()
    assert len(data_files(tmp_path)) == 1 and reader.cache_info()["entries"] == len(TEXTS)


def test_format1_folder_that_cannot_be_written_is_refused_clearly(tiny_bert, tmp_path, request):
    """Shards of format 1 in a read-only folder cannot be imported: one warning saying what to
    do, the cache is off, the vectors are right and the folder is left as it was."""
    from test_cache import format1_folder

    folder, want = format1_folder(tiny_bert, tmp_path)
    before = snapshot(tmp_path)
    request.getfixturevalue("read_only_cache")
    vec = BertVectorizer(model=str(tiny_bert), cache_dir=tmp_path).fit(TEXTS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = [vec.transform(TEXTS), vec.transform(TEXTS)]
    messages = cache_warnings(caught)
    assert len(messages) == 1 and "shards of format 1" in messages[0] and "writable to import them" in messages[0]
    for g in got:
        np.testing.assert_allclose(g, want, atol=1e-6)
    del vec
    assert snapshot(tmp_path) == before
