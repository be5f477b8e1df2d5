"""GridSearchCV over pooling, layers and the head's C, with the disk cache.

Each text is encoded once per model setup (pooling x layers) for the whole search,
however many folds and values of C: the script prints the forward passes to show it.

    python examples/grid_search.py [--data DIR] [--limit 600]
"""

from __future__ import annotations

import tempfile
import time

from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from _common import data_folder, parser, read_jsonl
from bertfeat import BertVectorizer, encoding_stats


def main() -> None:
    p = parser(__doc__)
    p.set_defaults(limit=600)
    p.add_argument("--n-jobs", type=int, default=1)
    args = p.parse_args()
    folder = data_folder(args.data, "emotion/train.jsonl")
    texts, labels, _ = read_jsonl(folder / "emotion" / "train.jsonl", args.limit)
    grid = {
        "vec__pooling": ["cls", "mean"],
        "vec__layers": ["last", [-2, -1]],
        "clf__C": [0.1, 1.0, 10.0],
    }
    with tempfile.TemporaryDirectory() as cache:
        pipe = Pipeline([("vec", BertVectorizer(model=args.model, cache_dir=cache, progress=False)),
                         ("clf", LogisticRegression(max_iter=2000))])
        search = GridSearchCV(pipe, grid, cv=3, n_jobs=args.n_jobs, scoring="accuracy")
        started = time.perf_counter()
        search.fit(texts, labels)
        seconds = time.perf_counter() - started
        stats = encoding_stats()
    setups = len(grid["vec__pooling"]) * len(grid["vec__layers"])
    fits = setups * len(grid["clf__C"]) * 3 + 1
    print(f"{fits} pipeline fits over {len(texts)} texts in {seconds:.0f} s")
    print(f"texts encoded: {stats['texts']} = {setups} model setups x {len(set(texts))} distinct texts "
          f"(without the cache: every fit and score would encode again)" if args.n_jobs == 1 else
          f"texts encoded in this process: {stats['texts']} (workers encode in their own processes, sharing the cache)")
    print(f"best: {search.best_params_}  cv accuracy {search.best_score_:.3f}")


if __name__ == "__main__":
    main()
