"""Texts encoded by a GridSearchCV across 2 Dask workers, with and without bertfeat.dask.warm_cache.

    OMP_NUM_THREADS=1 python benchmarks/dask_grid_search.py --n 300

Pipeline(BertVectorizer(cache_dir=<fresh folder>), LogisticRegression) over a 2 x 2 grid
(pooling mean/cls x C 0.1/1) with 3 folds, under ``joblib.parallel_backend("dask")``, on the
first ``--n`` emotion texts. Prints the texts encoded, summed over the workers
(``bertfeat.dask.worker_stats``), against distinct texts x vectorizer setups.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> None:
    from dask_scaling import default_data

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=default_data())
    parser.add_argument("--model", default=None)
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()

    import joblib
    import numpy as np
    from distributed import Client, LocalCluster
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    import bertfeat.dask as bd
    from bertfeat import BertVectorizer

    rows = [json.loads(line) for line in open(Path(args.data) / "emotion" / "train.jsonl", encoding="utf-8")][: args.n]
    X, y = [r["text"] for r in rows], np.array([r["label"] for r in rows])
    client = Client(LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0", silence_logs=40))
    grid = {"bertvectorizer__pooling": ["mean", "cls"], "logisticregression__C": [0.1, 1.0]}
    for warm in (False, True):
        with tempfile.TemporaryDirectory() as cache:
            vec = BertVectorizer(model=args.model, cache_dir=cache, progress=False)
            pipe = make_pipeline(vec, LogisticRegression(max_iter=200))
            search = GridSearchCV(pipe, grid, cv=3, n_jobs=-1)
            bd.worker_stats(client, reset=True)
            if warm:
                bd.warm_cache(search, X)
            with joblib.parallel_backend("dask"):
                search.fit(X, y)
            encoded = sum(s["texts"] for s in bd.worker_stats(client).values())
            label = "with warm_cache" if warm else "without warm_cache"
            print(f"{label}: {encoded} texts encoded for {2 * len(set(X))} distinct (text, setup) pairs", flush=True)
    client.close()


if __name__ == "__main__":
    main()
