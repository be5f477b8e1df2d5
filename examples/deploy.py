"""Deployment: fit, joblib.dump, load in a fresh CPU-only process, predict.

    python examples/deploy.py [--data DIR] [--limit 2000] [--output DIR]

The pickle holds the parameters, the model reference and its fingerprint (a few kB);
with store_weights=True it also holds the model files, for a machine that has no copy.
The Hugging Face export of a fine-tuned model is shown in examples/emotion.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from _common import data_folder, output_folder, parser, read_jsonl
from bertfeat import BertVectorizer

LOAD_AND_PREDICT = textwrap.dedent(
    """
    import sys, joblib, numpy as np
    pipe = joblib.load(sys.argv[1])
    texts = [line.rstrip("\\n") for line in open(sys.argv[2], encoding="utf-8")]
    np.save(sys.argv[3], pipe.predict_proba(texts))
    """
)


def main() -> None:
    p = parser(__doc__)
    p.set_defaults(limit=2000)
    args = p.parse_args()
    folder = data_folder(args.data, "emotion/train.jsonl")
    out = output_folder(args.output, "deploy")
    train, y_train, _ = read_jsonl(folder / "emotion" / "train.jsonl", args.limit)
    test, y_test, _ = read_jsonl(folder / "emotion" / "test.jsonl", 200)
    for store in (False, True):
        pipe = make_pipeline(BertVectorizer(model=args.model, store_weights=store), LogisticRegression(max_iter=2000))
        pipe.fit(train, y_train)
        path = out / f"pipeline{'-with-weights' if store else ''}.joblib"
        joblib.dump(pipe, path)
        (out / "texts.txt").write_text("\n".join(test) + "\n", encoding="utf-8")
        env = dict(os.environ, CUDA_VISIBLE_DEVICES="")  # the deployment machine has no GPU
        subprocess.run([sys.executable, "-c", LOAD_AND_PREDICT, str(path), str(out / "texts.txt"), str(out / "proba.npy")],
                       check=True, env=env)
        fresh = np.load(out / "proba.npy")
        same = np.array_equal(fresh, pipe.predict_proba(test))
        accuracy = float(np.mean(pipe.classes_[fresh.argmax(1)] == np.asarray(y_test)))
        print(f"store_weights={store}: pickle {path.stat().st_size / 1e6:.2f} MB; fresh CPU process predicts "
              f"{'identically' if same else 'DIFFERENTLY'}; test accuracy {accuracy:.3f} on {len(test)} texts")


if __name__ == "__main__":
    main()
