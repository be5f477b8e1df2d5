"""Issue 3 benchmark: frozen features + heads on emotion (train 16,000 -> validation 2,000).

    python benchmarks/heads_emotion.py [--data DIR] [--cache-dir DIR] [--write benchmarks/results/heads_emotion.md]

(a) [CLS] + LogisticRegression, (b) mean + LogisticRegression, (c) concat of the last
four layers (mean-pooled) + LogisticRegression, (d) the best of those + MLPHeadClassifier.
Wall time counts feature extraction (cold cache) and the head's fit.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.preprocessing import StandardScaler
from sklearn.pipeline import make_pipeline

from data import data_folder, load_emotion

SETTINGS = {
    "a: cls": dict(pooling="cls"),
    "b: mean": dict(pooling="mean"),
    "c: mean, last 4 layers concat": dict(pooling="mean", layers=[-4, -3, -2, -1], layer_agg="concat"),
}


def features(setting: dict, cache_dir, train, valid):
    from bertfeat import BertVectorizer

    vec = BertVectorizer(cache_dir=cache_dir, progress=True, **setting).fit(train)
    started = time.perf_counter()
    X_train, X_valid = vec.transform(train), vec.transform(valid)
    return X_train, X_valid, time.perf_counter() - started


def evaluate(head, X_train, y_train, X_valid, y_valid):
    started = time.perf_counter()
    head.fit(X_train, y_train)
    seconds = time.perf_counter() - started
    predicted = head.predict(X_valid)
    return accuracy_score(y_valid, predicted), f1_score(y_valid, predicted, average="macro"), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data")
    parser.add_argument("--cache-dir", default=None, help="feature cache (reruns skip extraction; wall times then show it)")
    parser.add_argument("--write", default=None)
    args = parser.parse_args()
    folder = data_folder(args.data)
    train, y_train = load_emotion(folder, "train")
    valid, y_valid = load_emotion(folder, "validation")
    rows = []
    dummy = DummyClassifier().fit(np.zeros((len(train), 1)), y_train).predict(np.zeros((len(valid), 1)))
    rows.append(("majority baseline", accuracy_score(y_valid, dummy), f1_score(y_valid, dummy, average="macro"), 0.0, 0.0))
    best = None
    for name, setting in SETTINGS.items():
        X_train, X_valid, extract_s = features(setting, args.cache_dir, train, valid)
        head = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=0.1))
        acc, f1, fit_s = evaluate(head, X_train, y_train, X_valid, y_valid)
        rows.append((name + " + LogisticRegression", acc, f1, extract_s, fit_s))
        print(rows[-1], flush=True)
        if best is None or acc > best[1]:
            best = (name, acc, X_train, X_valid, extract_s)
    try:
        from bertfeat import MLPHeadClassifier
    except (ImportError, AttributeError):
        MLPHeadClassifier = None
    if MLPHeadClassifier is not None:
        name, _, X_train, X_valid, extract_s = best
        head = make_pipeline(StandardScaler(), MLPHeadClassifier(random_state=0))
        acc, f1, fit_s = evaluate(head, X_train, y_train, X_valid, y_valid)
        rows.append((f"d: {name.split(': ')[1]} + MLPHeadClassifier", acc, f1, extract_s, fit_s))
        print(rows[-1], flush=True)
    lines = [
        f"Emotion (train {len(train)}, validation {len(valid)}), embedded all-MiniLM-L6-v2, "
        f"{platform.processor() or platform.machine()}, torch threads as default.",
        "",
        "| setting | val accuracy | val macro-F1 | feature extraction (s) | head fit (s) |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {n} | {a:.4f} | {f:.4f} | {e:.0f} | {s:.1f} |" for n, a, f, e, s in rows]
    text = "\n".join(lines)
    print(text)
    if args.write:
        with open(args.write, "w") as handle:
            handle.write(f"Command: `python benchmarks/heads_emotion.py {'--cache-dir ' + args.cache_dir if args.cache_dir else ''}`\n\n{text}\n")


if __name__ == "__main__":
    main()
