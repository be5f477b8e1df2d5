"""Token classification on synthetic NER (issue 14): bertfeat's two taggers against the
reference points the issue quotes, on the same data.

    OMP_NUM_THREADS=2 python benchmarks/token_ner.py [--data DIR] [--epochs 5] [--write BENCHMARKS.md]

Data: ``bertfeat.datasets.synthetic_ner`` (person names and places put into emotion
tweets: 600 training sentences from train, 200 test sentences from validation, test
names and places never seen in training; IOB2). Model: the embedded all-MiniLM-L6-v2.

- plain Hugging Face loop: ``AutoModelForTokenClassification``, AdamW (lr 5e-5, weight
  decay 0), linear decay without warmup (the ``Trainer`` defaults), batch 16, ``--epochs``
  epochs, labels on each word's first sub-token (``word_ids``), max 128 tokens;
- first-sub-token vectors + LogisticRegression: ``AutoModel``'s last hidden state at each
  word's first sub-token, ``LogisticRegression(max_iter=1000)``;
- ``FineTuneTokenClassifier(max_epochs=--epochs, random_state=0)`` (its other defaults);
- ``FrozenTokenClassifier()`` (defaults).

Entity F1: micro over exact spans (conlleval / seqeval's default), ``bertfeat.tokens.entity_report``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import _bench as B
from data import data_folder, load_emotion

MAX_LENGTH = 128


def first_subtoken_batches(tokenizer, X, y, label_ids, batch_size, order):
    """Padded batches: input ids, mask, and labels on first sub-tokens (-100 elsewhere)."""
    import torch

    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        enc = tokenizer([X[i] for i in index], is_split_into_words=True, truncation=True, max_length=MAX_LENGTH,
                        padding=True, return_tensors="pt")
        labels = torch.full(enc["input_ids"].shape, -100, dtype=torch.long)
        if y is not None:
            for row, i in enumerate(index):
                seen = set()
                for pos, word in enumerate(enc.word_ids(row)):
                    if word is not None and word not in seen:
                        seen.add(word)
                        labels[row, pos] = label_ids[y[i][word]]
        yield index, enc, labels


def first_subtoken_rows(enc, row: int, n_words: int) -> list[int]:
    """Position of each word's first sub-token (every word fits in 128 tokens here)."""
    first = {}
    for pos, word in enumerate(enc.word_ids(row)):
        if word is not None and word not in first:
            first[word] = pos
    missing = [w for w in range(n_words) if w not in first]
    if missing:
        raise ValueError(f"words {missing} cut off by max_length={MAX_LENGTH}")
    return [first[w] for w in range(n_words)]


def plain_hf_loop(path, X_train, y_train, X_test, epochs: int):
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer, get_linear_schedule_with_warmup
    from transformers.utils import logging

    logging.set_verbosity_error()  # the new head's "newly initialized" notice is expected here
    tags = sorted({t for s in y_train for t in s})
    label_ids = {t: i for i, t in enumerate(tags)}
    tokenizer = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(
        path, num_labels=len(tags), id2label=dict(enumerate(tags)), label2id=label_ids)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.0)
    steps = epochs * ((len(X_train) + 15) // 16)
    schedule = get_linear_schedule_with_warmup(optimizer, 0, steps)
    rng = np.random.default_rng(0)
    model.train()
    for _ in range(epochs):
        for _, enc, labels in first_subtoken_batches(tokenizer, X_train, y_train, label_ids, 16, rng.permutation(len(X_train))):
            loss = model(**enc, labels=labels).loss
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
    model.eval()
    predicted = [None] * len(X_test)
    with torch.no_grad():
        for index, enc, _ in first_subtoken_batches(tokenizer, X_test, None, label_ids, 32, np.arange(len(X_test))):
            logits = model(**enc).logits
            for row, i in enumerate(index):
                positions = first_subtoken_rows(enc, row, len(X_test[i]))
                predicted[i] = [tags[k] for k in logits[row, positions].argmax(-1).tolist()]
    return predicted


def first_subtoken_logreg(path, X_train, y_train, X_test):
    import torch
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()

    def vectors(X):
        out = []
        with torch.no_grad():
            for index, enc, _ in first_subtoken_batches(tokenizer, X, None, {}, 32, np.arange(len(X))):
                hidden = model(**enc).last_hidden_state
                for row, i in enumerate(index):
                    out.append(hidden[row, first_subtoken_rows(enc, row, len(X[i]))].numpy())
        return out

    train = vectors(X_train)
    head = LogisticRegression(max_iter=1000).fit(np.concatenate(train), np.concatenate([np.asarray(t) for t in y_train]))
    test = vectors(X_test)
    return [head.predict(v).tolist() for v in test]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--n-train", type=int, default=600)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--only", default=None, help="comma-separated subset of: hf,logreg,finetune,frozen")
    parser.add_argument("--write", default=None, help="write the section into this markdown file (e.g. BENCHMARKS.md)")
    args = parser.parse_args()

    from bertfeat._store import default_model_path
    from bertfeat.datasets.synthetic_ner import synthetic_ner
    from bertfeat.tokens import FineTuneTokenClassifier, FrozenTokenClassifier, entity_report

    folder = data_folder(args.data)
    X_train, y_train, X_test, y_test = synthetic_ner(
        load_emotion(folder, "train")[0], load_emotion(folder, "validation")[0],
        n_train=args.n_train, n_test=args.n_test, random_state=0)
    path = str(default_model_path())
    runs = {
        "hf": (f"plain Hugging Face loop, {args.epochs} epochs (reference)",
               lambda: plain_hf_loop(path, X_train, y_train, X_test, args.epochs)),
        "logreg": ("first-sub-token vectors + LogisticRegression (reference)",
                   lambda: first_subtoken_logreg(path, X_train, y_train, X_test)),
        "finetune": (f"`FineTuneTokenClassifier(max_epochs={args.epochs})`",
                     lambda: FineTuneTokenClassifier(max_epochs=args.epochs, random_state=0, verbose=0)
                     .fit(X_train, y_train).predict(X_test)),
        "frozen": ("`FrozenTokenClassifier()`", lambda: FrozenTokenClassifier().fit(X_train, y_train).predict(X_test)),
    }
    chosen = args.only.split(",") if args.only else list(runs)
    rows = []
    for key in chosen:
        name, run = runs[key]
        load_before = B.load_average()
        started = time.perf_counter()
        predicted = run()
        seconds = time.perf_counter() - started
        report = entity_report(y_test, predicted)
        micro = report["micro avg"]
        per_type = ", ".join(f"{k} {v['f1']:.3f}" for k, v in report.items() if k != "micro avg")
        rows.append([name, f"**{micro['f1']:.3f}**", f"{micro['precision']:.3f}", f"{micro['recall']:.3f}", per_type,
                     f"{seconds:.0f}", f"{load_before} / {B.load_average()}"])
        print(rows[-1], flush=True)
    n_entities = sum(t.startswith("B-") for s in y_test for t in s)
    md = f"""### Token classification on synthetic NER (issue 14)

```
{B.command_line()}
```

Person names (one to three words) and places put into emotion tweets
(`bertfeat.datasets.synthetic_ner`, seed 0): {len(X_train)} training sentences (from train),
{len(X_test)} test sentences (from validation) holding {n_entities} entities whose names and places
never occur in training; IOB2 tags. Embedded all-MiniLM-L6-v2 (uncased), CPU
({B.machine()}). Entity F1: exact spans, micro over types. Wall time covers fit and
predict, on a shared machine (load average before / after each run).

{B.md_table(["method", "entity F1", "precision", "recall", "F1 per type", "seconds", "load"], rows)}

Targets (issue 14): `FineTuneTokenClassifier` with its defaults plus `max_epochs=5` >= 0.70;
`FrozenTokenClassifier` with its defaults >= 0.30.
"""
    print(md)
    if args.write:
        B.write_section(args.write, "token_ner", md)


if __name__ == "__main__":
    main()
