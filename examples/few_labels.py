"""Few labels and sentence pairs: ContrastiveClassifier and BertVectorizer(pair_mode="bi").

    python examples/few_labels.py [--data DIR] [--per-class 16] [--seed 0] [--limit N] [--model DIR]

1. Emotion tweets with only --per-class labelled examples per class: a frozen probe
   (BertVectorizer + LogisticRegression) against ContrastiveClassifier (SetFit's recipe:
   contrastive fine-tuning of the sentence encoder on pairs made from the labels, then
   LogisticRegression on its vectors), scored on the validation set. The tuned encoder is
   saved as a sentence-transformers folder and read back by BertVectorizer.
2. MRPC paraphrase pairs: the pair encoded jointly ("cross") against its two sentences
   encoded alone ("bi", [u, v, |u-v|, u*v]), each + LogisticRegressionCV, on the dev set.

Full comparisons over several splits: benchmarks/few_labels.py (BENCHMARKS.md).
"""

from __future__ import annotations

import csv
import time

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import accuracy_score
from sklearn.pipeline import make_pipeline

from _common import data_folder, output_folder, parser, read_jsonl
from bertfeat import BertVectorizer, ContrastiveClassifier


def few_per_class(texts, labels, k, seed):
    rng = np.random.RandomState(seed)
    labels = np.asarray(labels)
    rows = np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), k, replace=False) for c in np.unique(labels)]))
    return [texts[i] for i in rows], labels[rows]


def emotion(args, folder, out):
    texts, labels, names = read_jsonl(folder / "emotion" / "train.jsonl")
    valid, y_valid, _ = read_jsonl(folder / "emotion" / "validation.jsonl", args.limit)
    X, y = few_per_class(texts, labels, args.per_class, args.seed)
    print(f"[emotion] {len(X)} training tweets ({args.per_class} per class: {', '.join(names)}); {len(valid)} validation tweets")
    started = time.perf_counter()
    probe = make_pipeline(BertVectorizer(model=args.model, cache_dir=out / "cache"), LogisticRegression(max_iter=1000)).fit(X, y)
    print(f"[emotion] frozen probe (BertVectorizer + LogisticRegression): accuracy "
          f"{accuracy_score(y_valid, probe.predict(valid)):.3f} ({time.perf_counter() - started:.0f} s)")
    started = time.perf_counter()
    clf = ContrastiveClassifier(model=args.model, n_iterations=args.iterations, random_state=args.seed).fit(X, y)
    print(f"[emotion] ContrastiveClassifier ({clf.n_pairs_} pairs, {time.perf_counter() - started:.0f} s to fit): "
          f"accuracy {accuracy_score(y_valid, clf.predict(valid)):.3f}")
    saved = out / "contrastive-model"
    clf.save_pretrained(saved)
    same = np.abs(BertVectorizer(model=str(saved), max_length=clf.max_length_).fit_transform(valid[:8]) - clf.transform(valid[:8])).max()
    print(f"[emotion] saved as a sentence-transformers folder {saved}; BertVectorizer reads the tuned encoder "
          f"(largest difference to transform: {same:.1e})")


def read_mrpc(path, limit):
    frame = pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, encoding="utf-8-sig", keep_default_na=False)
    frame = frame.head(limit) if limit else frame
    return list(zip(frame["#1 String"], frame["#2 String"])), frame["Quality"].to_numpy()


def mrpc(args, folder, out):
    if not (folder / "mrpc" / "train.tsv").is_file():
        print("skipped MRPC: mrpc/train.tsv not found")
        return
    train, y_train = read_mrpc(folder / "mrpc" / "train.tsv", args.limit)
    dev, y_dev = read_mrpc(folder / "mrpc" / "dev.tsv", args.limit)
    print(f"[MRPC] {len(train)} training pairs, {len(dev)} dev pairs; majority baseline "
          f"{max(np.mean(y_dev), 1 - np.mean(y_dev)):.3f}")
    for mode in ("cross", "bi"):
        started = time.perf_counter()
        pipe = make_pipeline(BertVectorizer(model=args.model, pair_mode=mode, cache_dir=out / "cache"),
                             LogisticRegressionCV(Cs=10, cv=5, max_iter=3000))
        pipe.fit(train, y_train)
        print(f"[MRPC] pair_mode={mode!r} + LogisticRegressionCV: dev accuracy "
              f"{accuracy_score(y_dev, pipe.predict(dev)):.3f} ({pipe[0].n_features_out_} features, "
              f"{time.perf_counter() - started:.0f} s)")


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--per-class", type=int, default=16, help="labelled emotion examples per class")
    p.add_argument("--iterations", type=int, default=20, help="ContrastiveClassifier n_iterations")
    p.add_argument("--seed", type=int, default=0, help="which examples are labelled, and the training seed")
    args = p.parse_args()
    folder = data_folder(args.data, "emotion/train.jsonl")
    out = output_folder(args.output, "few_labels")
    emotion(args, folder, out)
    mrpc(args, folder, out)


if __name__ == "__main__":
    main()
