"""Few labels and sentence pairs: ContrastiveClassifier and BertVectorizer(pair_mode="bi").

    python benchmarks/few_labels.py [--data DIR] [--sizes 8,16,64] [--splits 5] [--parts emotion,mrpc]
        [--methods probe,contrastive,finetune] [--mrpc-finetune] [--write BENCHMARKS.md]

Emotion (validation set, 2,000 tweets): for each size (examples per class) and random
split (split s draws its training examples with seed s), a frozen probe
(BertVectorizer + LogisticRegression), ContrastiveClassifier with its defaults, and
FineTuneClassifier (``--finetune-epochs``, default 10: 3 epochs on 48 texts are 6 steps).
MRPC (dev set, 408 pairs): cross-encoded pair features, bi-encoded features
``[u, v, |u-v|, u*v]``, each with LogisticRegression and LogisticRegressionCV (C by
5-fold CV), and with ``--mrpc-finetune`` FineTuneClassifier (3 epochs).

Every result is appended to ``--results`` (JSON lines) as soon as it is measured and
skipped when it is there already, so an interrupted run continues where it stopped and
``--write`` renders the section from everything measured so far. Fit times are taken
as they come on whatever the machine is doing: the load average is recorded beside each.
Skips cleanly (exit 0) when the data folder is absent.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _bench import ROOT, command_line, data_dir, load_average, machine, md_table, read_emotion, write_section

RESULTS = ROOT / "benchmarks" / "results" / "few_labels.jsonl"
# SetFit paper (Tunstall et al. 2022), emotion, accuracy: (examples per class, model) -> score
PUBLISHED = {
    8: "SetFit MiniLM-L6: 39.1",
    64: "SetFit MPNet: 76.2; frozen MPNet probe: 50.8",
}


class Results:
    """Measured rows, appended as JSON lines; a key already measured is not measured again."""

    def __init__(self, path: Path, fresh: bool):
        self.path = path
        self.rows = []
        if path.exists() and not fresh:
            self.rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        elif path.exists():
            path.unlink()

    def has(self, **key) -> bool:
        return any(all(row.get(k) == v for k, v in key.items()) for row in self.rows)

    def add(self, **row) -> None:
        row["load"] = load_average()
        row["command"] = command_line()
        self.rows.append(row)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


def sample_per_class(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    rng = np.random.RandomState(seed)
    rows = [rng.choice(np.flatnonzero(labels == c), size=k, replace=False) for c in np.unique(labels)]
    return np.sort(np.concatenate(rows))


# -- emotion ---------------------------------------------------------------------------
def run_emotion(args, results: Results, folder: Path, cache: str) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    from sklearn.preprocessing import normalize

    from bertfeat import BertVectorizer, ContrastiveClassifier, FineTuneClassifier

    train_texts, train_labels = read_emotion(folder, "train")
    valid_texts, valid_labels = read_emotion(folder, "validation")
    if args.valid_rows:
        valid_texts, valid_labels = valid_texts[: args.valid_rows], valid_labels[: args.valid_rows]
    n_valid = len(valid_texts)
    for size in args.sizes:
        for split in range(args.splits):
            index = sample_per_class(train_labels, size, split)
            X, y = [train_texts[i] for i in index], train_labels[index]
            key = dict(task="emotion", size=size, split=split, n_valid=n_valid)
            if "probe" in args.methods and not results.has(method="probe", **key):
                started = time.perf_counter()
                vectorizer = BertVectorizer(cache_dir=cache, progress=False).fit(X)
                head = LogisticRegression(max_iter=1000).fit(vectorizer.transform(X), y)
                seconds = time.perf_counter() - started
                accuracy = accuracy_score(valid_labels, head.predict(vectorizer.transform(valid_texts)))
                results.add(method="probe", accuracy=accuracy, fit_seconds=seconds, **key)
            if "contrastive" in args.methods and not results.has(method="contrastive", **key):
                started = time.perf_counter()
                clf = ContrastiveClassifier(random_state=split, progress=args.progress).fit(X, y)
                seconds = time.perf_counter() - started
                vectors = clf.transform(valid_texts)
                accuracy = accuracy_score(valid_labels, clf.head_.predict(vectors))
                results.add(method="contrastive", accuracy=accuracy, fit_seconds=seconds, n_pairs=clf.n_pairs_, **key)
                # The same tuned encoder, its vectors unit-length before the head (SetFit's MiniLM
                # body normalizes): a free side measurement for the choice of default.
                unit = LogisticRegression(max_iter=1000).fit(normalize(clf.transform(X)), y)
                accuracy = accuracy_score(valid_labels, unit.predict(normalize(vectors)))
                results.add(method="contrastive-unit-vectors", accuracy=accuracy, **key)
            if "finetune" in args.methods and not results.has(method="finetune", **key):
                started = time.perf_counter()
                tuned = FineTuneClassifier(max_epochs=args.finetune_epochs, batch_size=16, random_state=split,
                                           verbose=int(args.progress)).fit(X, y)
                seconds = time.perf_counter() - started
                accuracy = accuracy_score(valid_labels, tuned.predict(valid_texts))
                results.add(method="finetune", accuracy=accuracy, fit_seconds=seconds,
                            epochs=args.finetune_epochs, **key)


# -- MRPC --------------------------------------------------------------------------------
def read_mrpc(path: Path):
    import csv

    import pandas as pd

    frame = pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, encoding="utf-8-sig", keep_default_na=False)
    return list(zip(frame["#1 String"], frame["#2 String"])), frame["Quality"].to_numpy()


def run_mrpc(args, results: Results, folder: Path, cache: str) -> None:
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.metrics import accuracy_score, f1_score

    from bertfeat import BertVectorizer, FineTuneClassifier

    train, y_train = read_mrpc(folder / "mrpc" / "train.tsv")
    dev, y_dev = read_mrpc(folder / "mrpc" / "dev.tsv")
    key = dict(task="mrpc", n_train=len(train), n_valid=len(dev))
    results.has(task="mrpc", method="majority") or results.add(
        method="majority", accuracy=float(max(np.mean(y_dev), 1 - np.mean(y_dev))), **key)
    for mode in ("bi", "cross"):
        heads = {f"{mode}+LR": lambda: LogisticRegression(max_iter=3000),
                 f"{mode}+LRCV": lambda: LogisticRegressionCV(Cs=10, cv=5, max_iter=3000)}
        if all(results.has(method=name, **key) for name in heads):
            continue
        vectorizer = BertVectorizer(pair_mode=mode, cache_dir=cache, progress=args.progress)
        started = time.perf_counter()
        features = vectorizer.fit_transform(train)
        encode_seconds = time.perf_counter() - started
        dev_features = vectorizer.transform(dev)
        for name, make in heads.items():
            if results.has(method=name, **key):
                continue
            head = make().fit(features, y_train)
            predicted = head.predict(dev_features)
            extra = {"C": float(np.ravel(head.C_)[0])} if hasattr(head, "C_") else {}
            results.add(method=name, accuracy=accuracy_score(y_dev, predicted), f1=f1_score(y_dev, predicted),
                        encode_seconds=encode_seconds, n_features=features.shape[1], **extra, **key)
    if args.mrpc_finetune and not results.has(method="finetune", **key):
        started = time.perf_counter()
        tuned = FineTuneClassifier(max_epochs=3, random_state=0, verbose=int(args.progress)).fit(train, y_train)
        seconds = time.perf_counter() - started
        predicted = tuned.predict(dev)
        results.add(method="finetune", accuracy=accuracy_score(y_dev, predicted), f1=f1_score(y_dev, predicted),
                    fit_seconds=seconds, epochs=3, **key)


# -- report ------------------------------------------------------------------------------
def _mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{100 * values[0]:.1f}"
    return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}"


def report(rows: list[dict], command: str) -> str:
    measured_by = sorted({r["command"] for r in rows if "command" in r})
    lines = ["## Few labels and sentence pairs", "",
             f"Rendered by `{command}` on {machine()} from `benchmarks/results/few_labels.jsonl`; rows measured by:", ""]
    lines += [f"- `{c}`" for c in measured_by] + [""]
    emotion = [r for r in rows if r["task"] == "emotion"]
    if emotion:
        lines += ["Emotion, validation set, accuracy (%): mean ± standard deviation over random splits (split s "
                  "draws its training examples with seed s). Contrastive = `ContrastiveClassifier()` defaults "
                  "(20 pair iterations, 1 epoch, batch 16, lr 2e-5, LogisticRegression head); "
                  "`contrastive-unit-vectors` = the same tuned encoder, vectors normalized before the head; "
                  "probe = `BertVectorizer()` + `LogisticRegression()`; fine-tune = `FineTuneClassifier` "
                  "(batch 16, epochs as listed). Fit seconds: median, with the 1-minute load average of each run "
                  "(the machine is shared: wall time, not a speed figure).", ""]
        table = []
        for size in sorted({r["size"] for r in emotion}):
            for method in ("probe", "contrastive", "contrastive-unit-vectors", "finetune"):
                got = [r for r in emotion if r["size"] == size and r["method"] == method]
                if not got:
                    continue
                # the probe's time is mostly disk-cache hits shared across splits: not a fit time
                seconds = [r["fit_seconds"] for r in got if "fit_seconds" in r and method != "probe"]
                fit = f"{statistics.median(seconds):.0f} (load {', '.join(r['load'].split()[0] for r in got)})" if seconds else ""
                name = method + (f" ({got[0]['epochs']} epochs)" if "epochs" in got[0] else "")
                table.append([size, name, len(got), _mean_sd([r["accuracy"] for r in got]), fit,
                              PUBLISHED.get(size, "") if method == "contrastive" else ""])
        lines += [md_table(["per class", "method", "splits", "accuracy", "fit s", "published (SetFit paper)"], table), ""]
        lines += ["Published (SetFit paper, emotion test set, accuracy %): " +
                  "; ".join(f"{k} per class: {v}" for k, v in PUBLISHED.items()) + ".", ""]
        fixed = {r["method"]: r for r in emotion if r["size"] == 16 and r["split"] == 0}
        if "probe" in fixed and "contrastive" in fixed:
            gain = 100 * (fixed["contrastive"]["accuracy"] - fixed["probe"]["accuracy"])
            lines += [f"Fixed split (16 per class, split 0): probe {100 * fixed['probe']['accuracy']:.1f}, "
                      f"ContrastiveClassifier {100 * fixed['contrastive']['accuracy']:.1f} ({gain:+.1f} points; "
                      f"target +4); CPU fit time with defaults (96 texts, "
                      f"{fixed['contrastive'].get('n_pairs', '?')} pairs): {fixed['contrastive']['fit_seconds']:.0f} s "
                      f"at load {fixed['contrastive']['load']}.", ""]
    mrpc = [r for r in rows if r["task"] == "mrpc"]
    if mrpc:
        lines += ["MRPC dev (408 pairs), train 3,668 pairs. cross = `BertVectorizer()` on the pair "
                  "(`[CLS] a [SEP] b [SEP]`); bi = `BertVectorizer(pair_mode=\"bi\")`: `[u, v, |u-v|, u*v]`; "
                  "LR = `LogisticRegression()`, LRCV = `LogisticRegressionCV(Cs=10, cv=5)`.", ""]
        table = [[r["method"], f"{r['accuracy']:.3f}", f"{r['f1']:.3f}" if "f1" in r else "",
                  f"{r['C']:.3g}" if "C" in r else "", r.get("n_features", ""),
                  f"{r['fit_seconds']:.0f} (load {r['load'].split()[0]})" if "fit_seconds" in r else ""] for r in mrpc]
        lines += [md_table(["method", "accuracy", "F1", "C", "features", "fit s"], table), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="shared data folder (else BERTFEAT_DATA)")
    parser.add_argument("--sizes", default="8,16,64", help="examples per class, comma-separated")
    parser.add_argument("--splits", type=int, default=5, help="random splits per size")
    parser.add_argument("--parts", default="emotion,mrpc")
    parser.add_argument("--methods", default="probe,contrastive,finetune")
    parser.add_argument("--finetune-epochs", type=int, default=10)
    parser.add_argument("--mrpc-finetune", action="store_true", help="also fine-tune on MRPC (3 epochs; slow on a CPU)")
    parser.add_argument("--valid-rows", type=int, default=None, help="first N validation rows only (quick checks)")
    parser.add_argument("--results", default=str(RESULTS), help="JSON lines of measured rows (resumed)")
    parser.add_argument("--fresh", action="store_true", help="forget earlier results")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--write", default=None, help="markdown file whose few_labels section is rewritten")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.methods = set(args.methods.split(","))
    parts = set(args.parts.split(","))
    folder = data_dir(args.data)
    results = Results(Path(args.results), args.fresh)
    if folder is None:
        print("skipped: no data folder (give --data or BERTFEAT_DATA)")
    else:
        with tempfile.TemporaryDirectory(prefix="bertfeat-few-labels-") as cache:
            if "mrpc" in parts and (folder / "mrpc" / "train.tsv").is_file():
                run_mrpc(args, results, folder, cache)
            if "emotion" in parts:
                run_emotion(args, results, folder, cache)
    text = report(results.rows, command_line())
    print(text)
    if args.write:
        write_section(args.write, "few_labels", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
