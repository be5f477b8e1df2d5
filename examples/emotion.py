"""Emotion tweets, the tutorial way: features + logistic regression, pictures, errors, fine-tuning.

    python examples/emotion.py [--data DIR] [--limit N] [--finetune-epochs 2] [--finetune-limit 4000]

1. Mean-pooled MiniLM features + LogisticRegression against a majority baseline.
2. UMAP panels of the training features, a normalized confusion matrix.
3. Error analysis: the validation examples with the highest and lowest loss.
4. Fine-tuning the whole transformer (FineTuneClassifier), the comparison, and the
   Hugging Face export reloaded with AutoModelForSequenceClassification.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from _common import data_folder, output_folder, parser, read_jsonl, scores
from bertfeat import BertVectorizer
from bertfeat.viz import confusion_matrix_plot, error_table, per_example_loss, umap_panels


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--finetune-epochs", type=int, default=2, help="0 skips fine-tuning")
    p.add_argument("--finetune-limit", type=int, default=4000, help="training rows for fine-tuning (CPU time)")
    args = p.parse_args()
    folder = data_folder(args.data, "emotion/train.jsonl")
    out = output_folder(args.output, "emotion")
    train, y_train, names = read_jsonl(folder / "emotion" / "train.jsonl", args.limit)
    valid, y_valid, _ = read_jsonl(folder / "emotion" / "validation.jsonl", args.limit)
    y_train, y_valid = np.asarray(y_train), np.asarray(y_valid)

    started = time.perf_counter()
    vectorizer = BertVectorizer(model=args.model, cache_dir=out / "cache").fit(train)
    X_train, X_valid = vectorizer.transform(train), vectorizer.transform(valid)
    print(f"features: {X_train.shape} train, {X_valid.shape} validation in {time.perf_counter() - started:.0f} s")
    dummy = DummyClassifier().fit(X_train, y_train)
    clf = LogisticRegression(max_iter=3000).fit(X_train, y_train)
    predicted = clf.predict(X_valid)
    print(f"majority baseline: {scores(y_valid, dummy.predict(X_valid))}")
    print(f"mean features + LogisticRegression: {scores(y_valid, predicted)}")

    sample = np.random.default_rng(0).permutation(len(train))[:4000]
    umap_panels(X_train[sample], y_train[sample], names, path=out / "umap_panels.png", title="Emotion tweets: UMAP of MiniLM features")
    confusion_matrix_plot(y_valid, predicted, label_names=names, path=out / "confusion_matrix.png",
                          title="Features + logistic regression (validation)")
    loss = per_example_loss(clf, X_valid, y_valid)
    table = error_table(valid, y_valid, predicted, loss, label_names=names, n=8)
    table.to_csv(out / "errors.csv")
    print("highest-loss validation examples (candidates for mislabels):")
    print(table[table["group"] == "highest"][["text", "label", "predicted", "loss"]].to_string(max_colwidth=70))
    print(f"pictures and tables in {out}/")

    if args.finetune_epochs <= 0:
        return
    from bertfeat import FineTuneClassifier

    n = min(args.finetune_limit, len(train))
    started = time.perf_counter()
    tuned = FineTuneClassifier(model=args.model, max_epochs=args.finetune_epochs, max_length=64, learning_rate=1e-4,
                               validation_fraction=0.1, random_state=0)
    tuned.fit(train[:n], y_train[:n])
    tuned_pred = tuned.predict(valid)
    print(f"fine-tuned on {n} tweets, {args.finetune_epochs} epochs, {time.perf_counter() - started:.0f} s: {scores(y_valid, tuned_pred)}")
    confusion_matrix_plot(y_valid, tuned_pred, label_names=names, path=out / "confusion_matrix_finetuned.png",
                          title="Fine-tuned MiniLM (validation)")
    export = out / "finetuned-hf"
    tuned.save_pretrained(export)
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    hf_model = AutoModelForSequenceClassification.from_pretrained(str(export)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(export))
    with torch.no_grad():
        logits = hf_model(**tokenizer(valid[:32], padding=True, truncation=True, max_length=64, return_tensors="pt")).logits
    hf_pred = np.asarray([hf_model.config.id2label[i] for i in logits.argmax(1).tolist()])
    agree = np.mean(hf_pred.astype(str) == tuned_pred[:32].astype(str))
    print(f"Hugging Face export in {export}/ reloads with AutoModelForSequenceClassification; agreement with the estimator: {agree:.3f}")


if __name__ == "__main__":
    main()
