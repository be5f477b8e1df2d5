"""Chinese hotel reviews (ChnSentiCorp): sentiment with a Chinese vocabulary.

    python examples/chinese_reviews.py [--data DIR] [--model CHINESE_BERT_FOLDER] [--limit N]

Offline, only the bert-base-chinese tokenizer is real here: without --model the encoder
has random weights, so the score shows that Chinese text flows through correctly (one
token per character, no [UNK]), not what a pretrained Chinese BERT reaches.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from _common import chinese_model, data_folder, output_folder, parser, scores
from bertfeat import BertVectorizer


def main() -> None:
    args = parser(__doc__).parse_args()
    folder = data_folder(args.data, "chnsenticorp_htl/ChnSentiCorp_htl_all.csv")
    out = output_folder(args.output, "chinese_reviews")
    frame = pd.read_csv(folder / "chnsenticorp_htl" / "ChnSentiCorp_htl_all.csv")
    empty = frame["review"].isna() | (frame["review"].astype(str).str.strip() == "")
    print(f"{len(frame)} reviews; dropping {int(empty.sum())} empty review(s)")
    frame = frame[~empty]
    if args.limit:
        frame = frame.sample(n=min(args.limit, len(frame)), random_state=0)
    texts, labels = frame["review"].astype(str).tolist(), frame["label"].to_numpy()
    model = chinese_model(args.model, out, folder)
    vec = BertVectorizer(model=model, max_length=256, cache_dir=out / "cache")
    tokens = vec.fit(texts[:1])._loaded.tokenizer.tokenize(texts[0])
    print(f"first review as tokens: {tokens[:20]} ...")
    train_x, test_x, train_y, test_y = train_test_split(texts, labels, test_size=0.2, stratify=labels, random_state=0)
    pipe = make_pipeline(vec, LogisticRegression(max_iter=3000)).fit(train_x, train_y)
    print(f"majority baseline: {scores(test_y, DummyClassifier().fit(np.zeros(len(train_y)), train_y).predict(np.zeros(len(test_y))))}")
    print(f"{'random-weight' if not args.model else 'given'} Chinese BERT features + LogisticRegression: {scores(test_y, pipe.predict(test_x))}")


if __name__ == "__main__":
    main()
