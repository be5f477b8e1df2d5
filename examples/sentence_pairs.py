"""Sentence pairs: MRPC paraphrases (English) and WSDM fake-news title pairs (Chinese).

    python examples/sentence_pairs.py [--data DIR] [--limit N] [--finetune-epochs 2] [--chinese-model DIR]

Pairs are encoded as [CLS] a [SEP] b [SEP] with segment ids. For each set: features of
the pair + LogisticRegression, then a fine-tuned pair classifier (FineTuneClassifier).
The WSDM encoder has random weights unless --chinese-model names a real one.
"""

from __future__ import annotations

import csv
import time

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from _common import chinese_model, data_folder, output_folder, parser, scores
from bertfeat import BertVectorizer


def read_mrpc(path, limit):
    frame = pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, encoding="utf-8-sig", keep_default_na=False)
    frame = frame.head(limit) if limit else frame
    return list(zip(frame["#1 String"], frame["#2 String"])), frame["Quality"].to_numpy()


def evaluate_pairs(name, model, train, y_train, test, y_test, epochs, out):
    baseline = DummyClassifier().fit(np.zeros(len(y_train)), y_train).predict(np.zeros(len(y_test)))
    print(f"[{name}] majority baseline: {scores(y_test, baseline)}")
    started = time.perf_counter()
    pipe = make_pipeline(BertVectorizer(model=model, cache_dir=out / "cache"), LogisticRegression(max_iter=3000, class_weight="balanced"))
    pipe.fit(train, y_train)
    print(f"[{name}] pair features + LogisticRegression: {scores(y_test, pipe.predict(test))} ({time.perf_counter() - started:.0f} s)")
    if epochs > 0:
        from bertfeat import FineTuneClassifier

        started = time.perf_counter()
        tuned = FineTuneClassifier(model=model, max_epochs=epochs, max_length=128, random_state=0).fit(train, y_train)
        print(f"[{name}] fine-tuned pair classifier: {scores(y_test, tuned.predict(test))} ({time.perf_counter() - started:.0f} s)")


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--finetune-epochs", type=int, default=2, help="0 skips fine-tuning")
    p.add_argument("--chinese-model", default=None)
    args = p.parse_args()
    folder = data_folder(args.data, "mrpc/train.tsv")
    out = output_folder(args.output, "sentence_pairs")
    train, y_train = read_mrpc(folder / "mrpc" / "train.tsv", args.limit)
    test, y_test = read_mrpc(folder / "mrpc" / "dev.tsv", args.limit)
    evaluate_pairs("MRPC", args.model, train, y_train, test, y_test, args.finetune_epochs, out)

    wsdm = folder / "wsdm_fakenews" / "train_sample_leemeng.tsv"
    if not wsdm.is_file():
        print(f"skipped WSDM: {wsdm} not found")
        return
    frame = pd.read_csv(wsdm, sep="\t", quoting=csv.QUOTE_NONE, keep_default_na=False)
    frame = frame.head(args.limit) if args.limit else frame
    pairs, labels = list(zip(frame["text_a"], frame["text_b"])), frame["label"].to_numpy()
    print(f"[WSDM] {len(pairs)} title pairs, labels {dict(zip(*np.unique(labels, return_counts=True)))}")
    train, test, y_train, y_test = train_test_split(pairs, labels, test_size=0.2, stratify=labels, random_state=0)
    model = chinese_model(args.chinese_model, out, folder)
    evaluate_pairs("WSDM", model, train, y_train, test, y_test, args.finetune_epochs, out)


if __name__ == "__main__":
    main()
