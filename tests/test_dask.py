"""bertfeat.dask on a real 2-worker LocalCluster (processes): order, exactness, one model per
worker, a killed worker, complete writers, a shared cache under a distributed grid search."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
pytest.importorskip("dask.dataframe")

import dask.bag as db  # noqa: E402
import dask.dataframe as dd  # noqa: E402
import pandas as pd  # noqa: E402

import bertfeat.dask as bd  # noqa: E402
from bertfeat.dask._gpu import placement_problems  # noqa: E402
from bertfeat import BertVectorizer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORDS = "good bad film hotel room staff food slow quick calm loud happy sad".split()
# 300 short texts: varied lengths, a few duplicates, an empty one, non-ASCII.
TEXTS = [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(1 + i % 11)) + f" {i % 97}" for i in range(297)]
TEXTS += ["", "café naïve 😀", TEXTS[5]]
PAIRS = [(TEXTS[i], TEXTS[-i - 1]) for i in range(120)]


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def vec(tiny_bert):
    # batch_size=1: every text is encoded alone, so a vector cannot depend on its batch
    # neighbours and the Dask result must equal the single-process one bit for bit.
    return BertVectorizer(model=str(tiny_bert), batch_size=1).fit(TEXTS)


REFERENCE = """
import sys, pickle, numpy as np
vec, texts = pickle.load(open(sys.argv[1], "rb"))
np.save(sys.argv[2], vec.transform(texts))
"""


def single_process(vec, items, folder: Path) -> np.ndarray:
    """``vec.transform(items)`` in a fresh process set up as a worker is (one torch thread).

    Earlier tests in this process (numba, thread pools) can leave the GEMM kernels' thread
    layout changed, and a different layout rounds the last bit differently.
    """
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "in.pkl", "wb") as handle:
        pickle.dump((vec, items), handle)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", REFERENCE, str(folder / "in.pkl"), str(folder / "out.npy")],
                   check=True, env=env, timeout=300)
    return np.load(folder / "out.npy")


@pytest.fixture(scope="module")
def reference(vec, tmp_path_factory):
    return single_process(vec, TEXTS, tmp_path_factory.mktemp("dask-reference"))


def series(texts, npartitions=7):
    return dd.from_pandas(pd.Series(texts, dtype=object), npartitions=npartitions)


def test_import_without_dask_names_the_extra():
    code = (
        "import sys; sys.modules['dask'] = None\n"
        "import bertfeat\n"
        "try:\n    import bertfeat.dask\nexcept ImportError as e:\n    print('ERR', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert 'pip install "bertfeat[dask]"' in out.stdout, out.stderr


def test_workers_run_this_checkout(client):
    for report in bd.worker_stats(client).values():
        assert Path(report["bertfeat"]) == ROOT / "bertfeat"


def test_series_equals_single_process_exactly(client, vec, reference):
    arr = bd.transform(vec, series(TEXTS))
    assert arr.dtype == np.float32 and arr.shape[1] == 32
    np.testing.assert_array_equal(arr.compute(), reference)


def test_vectorizer_is_one_graph_key_that_every_task_depends_on(vec):
    graph = dict(bd.transform(vec, series(TEXTS)).__dask_graph__())
    shipped = [k for k in graph if str(k).startswith("bertfeat-vectorizer-")]
    assert len(shipped) == 1


def test_frame_bag_and_pairs(client, vec, reference, tiny_bert, tmp_path):
    frame = bd.transform(vec, series(TEXTS, 5), as_frame=True).compute()
    assert list(frame.columns) == list(vec.get_feature_names_out())
    assert list(frame.index) == list(range(len(TEXTS)))
    np.testing.assert_array_equal(frame.to_numpy(), reference)

    bag = db.from_sequence(TEXTS, npartitions=6)
    np.testing.assert_array_equal(bd.transform(vec, bag).compute(), reference)

    pair_vec = BertVectorizer(model=str(tiny_bert), batch_size=1).fit(PAIRS)
    pdf = pd.DataFrame(PAIRS, columns=["a", "b"]).assign(label=1)
    want = single_process(pair_vec, PAIRS, tmp_path / "pairs")
    got = bd.transform(pair_vec, dd.from_pandas(pdf, npartitions=4), columns=("a", "b")).compute()
    np.testing.assert_array_equal(got, want)
    got = bd.transform(pair_vec, db.from_sequence(PAIRS, npartitions=3)).compute()
    np.testing.assert_array_equal(got, want)


def test_default_batching_agrees_to_float_rounding(client, tiny_bert):
    # With batches of 32 a vector depends on its batch (padding length, GEMM shapes) by a
    # few ulps: single-process transform of shuffled input differs from itself the same way.
    vec32 = BertVectorizer(model=str(tiny_bert)).fit(TEXTS)
    got = bd.transform(vec32, series(TEXTS)).compute()
    np.testing.assert_allclose(got, vec32.transform(TEXTS), rtol=0, atol=1e-5)


def test_model_loaded_once_per_worker(client, vec):
    for _ in range(2):
        bd.transform(vec, series(TEXTS, 9)).compute()
    stats = bd.worker_stats(client)
    assert len(stats) == 2
    assert all(s["load_count"] == 1 for s in stats.values()), stats
    assert all(s["texts"] > 0 for s in stats.values()), stats  # both workers took partitions


def test_files_are_read_on_the_workers(client, vec, reference, tmp_path):
    chunks = [TEXTS[:100], TEXTS[100:250], TEXTS[250:]]
    for i, chunk in enumerate(chunks):
        pd.DataFrame({"id": range(len(chunk)), "text": chunk}).to_json(tmp_path / f"c{i}.jsonl", orient="records", lines=True)
        pd.DataFrame({"text": chunk, "label": 1}).to_parquet(tmp_path / f"p{i}.parquet")
        pd.DataFrame({"text": chunk, "label": 1}).to_csv(tmp_path / f"v{i}.csv", index=False)
    jsonl = sorted(tmp_path.glob("c*.jsonl"))
    np.testing.assert_array_equal(bd.transform(vec, jsonl).compute(), reference)
    np.testing.assert_array_equal(bd.transform(vec, sorted(tmp_path.glob("p*.parquet"))).compute(), reference)
    np.testing.assert_array_equal(bd.transform(vec, bd.read_files(str(tmp_path / "v*.csv")), columns="text").compute(), reference)
    lines = [t for t in TEXTS if "\n" not in t]
    (tmp_path / "t.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    np.testing.assert_array_equal(bd.transform(vec, [tmp_path / "t.txt"]).compute(), single_process(vec, lines, tmp_path / "ref"))
    with pytest.raises(TypeError, match="pathlib.Path"):
        bd.transform(vec, "corpus.jsonl")


def test_writers_are_complete_and_in_order(client, vec, reference, tmp_path):
    pdf = pd.DataFrame({"id": np.arange(len(TEXTS)), "text": TEXTS})
    ddf = dd.from_pandas(pdf, npartitions=6)
    manifest = bd.to_parquet(vec, ddf, tmp_path / "pq", columns="text", keep_columns=["id"])
    assert manifest["rows"] == len(TEXTS) and len(manifest["parts"]) == 6
    assert bd.check_output(tmp_path / "pq")["rows"] == len(TEXTS)
    back = pd.read_parquet(tmp_path / "pq")  # part files sort in partition order
    np.testing.assert_array_equal(back["id"].to_numpy(), pdf["id"].to_numpy())
    np.testing.assert_array_equal(back[manifest["feature_names"]].to_numpy(), reference)

    bd.to_npy_shards(vec, ddf, tmp_path / "npy", columns="text")
    np.testing.assert_array_equal(bd.read_npy_shards(tmp_path / "npy").compute(), reference)

    with pytest.raises(FileExistsError):
        bd.to_npy_shards(vec, ddf, tmp_path / "npy", columns="text")
    (tmp_path / "npy" / bd.check_output(tmp_path / "npy")["parts"][2]["file"]).unlink()
    with pytest.raises(bd.IncompleteOutputError, match="missing"):
        bd.check_output(tmp_path / "npy")
    bd.to_npy_shards(vec, ddf, tmp_path / "npy", columns="text", overwrite=True)
    assert bd.check_output(tmp_path / "npy")["rows"] == len(TEXTS)
    (tmp_path / "empty").mkdir()
    with pytest.raises(bd.IncompleteOutputError, match="no _manifest.json"):
        bd.check_output(tmp_path / "empty")


def test_grid_search_across_workers_encodes_each_text_once_per_setup(client, tiny_bert, tmp_path):
    import joblib
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    X = TEXTS[:200]
    y = np.array(["good" in t for t in X], dtype=int)
    n_distinct = len(set(X))
    cache = str(tmp_path / "cache")
    pipe = make_pipeline(BertVectorizer(model=str(tiny_bert), cache_dir=cache), LogisticRegression(max_iter=200))
    grid = {"bertvectorizer__pooling": ["mean", "cls"], "logisticregression__C": [0.1, 1.0]}
    search = GridSearchCV(pipe, grid, cv=3, n_jobs=-1)
    bd.worker_stats(client, reset=True)

    assert bd.warm_cache(search, X) == {"setups": 2, "texts": n_distinct}
    with joblib.parallel_backend("dask"):
        search.fit(X, y)

    stats = bd.worker_stats(client)
    assert sum(s["texts"] for s in stats.values()) == 2 * n_distinct  # once per setup, none in the search
    assert all(s["load_count"] == 1 for s in stats.values())  # pooling changes no weights: still one model
    for pooling in ("mean", "cls"):
        info = BertVectorizer(model=str(tiny_bert), pooling=pooling, cache_dir=cache).fit(X).cache_info()
        assert info["entries"] == n_distinct, info  # shards from both workers, nothing lost
    assert np.isfinite(search.best_score_)


def test_gpu_placement_refuses_two_models_on_one_gpu(client, vec):
    gpu = {"host": "h1", "gpu": "GPU-aaaa", "name": "X", "visible_gpus": 2, "CUDA_VISIBLE_DEVICES": None}
    stacked = {"tcp://w1": gpu, "tcp://w2": dict(gpu)}
    assert placement_problems(stacked)
    pinned = {"tcp://w1": gpu, "tcp://w2": dict(gpu, gpu="GPU-bbbb")}
    assert placement_problems(pinned) == []
    assert placement_problems({"tcp://w1": None, "tcp://w2": None}) == []  # CPU workers
    assert set(bd.check_gpu_placement(vec, client).values()) == {None}  # no GPU here: nothing to refuse


def test_gpu_cluster_gives_each_worker_its_own_gpu():
    # Without dask-cuda (and without GPUs) the fallback still pins CUDA_VISIBLE_DEVICES per worker.
    pytest.importorskip("torch")
    try:
        import dask_cuda  # noqa: F401

        pytest.skip("dask-cuda present: gpu_cluster uses LocalCUDACluster")
    except ImportError:
        pass
    with bd.gpu_cluster(devices=["0", "1"]) as cluster, distributed.Client(cluster) as c:
        c.wait_for_workers(2)
        seen = sorted(c.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES")).values())
    assert seen == ["0", "1"]


def _writers_processed_twice(dask_scheduler) -> int:
    from collections import Counter

    starts = Counter(str(t[0]) for t in dask_scheduler.transition_log if t[2] == "processing")
    return sum(1 for key, n in starts.items() if key.startswith("write_part") and n > 1)


@pytest.mark.slow  # kills and restarts a worker (issue 16: default run under 6 min)
def test_killed_worker_gives_retried_tasks_and_a_complete_result(client, vec, reference, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    nparts = 16

    def slow(part, folder=str(markers)):  # a slow input stage, so the job is running when we kill
        Path(folder, f"{part.index[0]}-{uuid.uuid4().hex[:6]}").touch()
        time.sleep(0.4)
        return part

    ddf = dd.from_pandas(pd.DataFrame({"text": TEXTS}), npartitions=nparts).map_partitions(slow)
    pids = client.run(os.getpid)
    result = {}
    job = threading.Thread(target=lambda: result.update(m=bd.to_parquet(vec, ddf, tmp_path / "out", columns="text")))
    job.start()
    deadline = time.time() + 30
    while len(list(markers.iterdir())) < 4 and time.time() < deadline:
        time.sleep(0.05)
    victim = sorted(pids.values())[0]
    os.kill(victim, signal.SIGKILL)
    job.join(timeout=120)
    assert not job.is_alive()
    # The killed worker's task ran again: its input stage (a marker more) or its writer.
    rerun_writers = client.run_on_scheduler(_writers_processed_twice)
    assert len(list(markers.iterdir())) > nparts or rerun_writers > 0
    manifest = bd.check_output(tmp_path / "out")
    assert manifest["rows"] == len(TEXTS) and len(manifest["parts"]) == nparts
    back = pd.read_parquet(tmp_path / "out")
    np.testing.assert_array_equal(back[manifest["feature_names"]].to_numpy(), reference)
    assert not list((tmp_path / "out").glob(".tmp-*"))
    client.wait_for_workers(2, timeout=60)
    stats = bd.worker_stats(client)
    assert victim not in {s["pid"] for s in stats.values()}  # the nanny started a new process
    assert all(s["load_count"] <= 1 for s in stats.values())
    assert json.loads((tmp_path / "out" / "_manifest.json").read_text())["complete"] is True
