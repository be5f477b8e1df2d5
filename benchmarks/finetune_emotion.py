"""Fine-tune the embedded all-MiniLM-L6-v2 on emotion (train 16,000) and evaluate on
validation (2,000): accuracy, macro-F1, wall time. Issue 3 (e).

    OMP_NUM_THREADS=2 python benchmarks/finetune_emotion.py --data ../shared/data

The validation split is scored after every epoch (outside the training time), and the
markdown snippet ``benchmarks/results/finetune_emotion.md`` is rewritten each time, so
a run cut short still leaves what it reached. ``--train-rows`` is for time estimates.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np


def read_split(folder: Path, split: str):
    rows = [json.loads(line) for line in (folder / "emotion" / f"{split}.jsonl").open(encoding="utf-8")]
    return [r["text"] for r in rows], np.asarray([r["label_text"] for r in rows])


def report(args, command, n_train, n_valid, epochs: list[dict], final: dict | None) -> str:
    import torch

    rows = "\n".join(
        f"| {e['epoch']} | {e['train_loss']:.4f} | {e['lr']:.2e} | {e['train_minutes']:.1f} | "
        f"{e['accuracy']:.4f} | {e['f1_macro']:.4f} |"
        for e in epochs
    )
    if final is None:
        status = f"**Run in progress or cut short**: {len(epochs)} of {args.epochs} epochs done."
        results = ""
    else:
        status = "Run complete."
        results = f"""
| result | value |
|---|---|
| validation accuracy | **{final['accuracy']:.4f}** (target >= 0.92) |
| validation macro-F1 | **{final['f1_macro']:.4f}** |
| fit wall time (training only) | {final['fit_minutes']:.1f} min |
| predict 2,000 texts | {final['predict_seconds']:.1f} s |
"""
    return f"""# Fine-tuning all-MiniLM-L6-v2 on emotion (issue 3 (e))

`FineTuneClassifier` (embedded all-MiniLM-L6-v2, 22.7 M parameters, every weight trained),
emotion train ({n_train:,} tweets, 6 classes) -> validation ({n_valid:,}). {status}

```
{command}
```

| setting | value |
|---|---|
| epochs | {args.epochs} |
| batch size | {args.batch_size} (length-grouped, dynamic padding) |
| peak learning rate | {args.lr:g} (AdamW, weight decay 0.01, 10 % linear warmup, linear decay) |
| max_length | {args.max_length} tokens |
| machine | {platform.machine()}, {os.cpu_count()} cores shared with other jobs, torch {torch.__version__}, {torch.get_num_threads()} threads |
{results}
Per epoch (validation scored after each epoch, not counted in the training minutes):

| epoch | train loss | lr at end | training minutes (cumulative) | validation accuracy | validation macro-F1 |
|---|---|---|---|---|---|
{rows}
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("BERTFEAT_DATA", "../shared/data"), help="shared data folder")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--train-rows", type=int, default=None, help="first N training rows only (timing estimates)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "finetune_emotion.md"))
    parser.add_argument("--save", default=None, help="folder to save the fine-tuned model to")
    args = parser.parse_args(argv)

    import torch
    from sklearn.metrics import accuracy_score, classification_report, f1_score

    from bertfeat import FineTuneClassifier
    from bertfeat._batching import tokenize
    from bertfeat._store import default_model_path
    from bertfeat.finetune import Callback
    from bertfeat.finetune.hf import load_tokenizer
    from bertfeat.training.data import Runtime, predict_logits

    folder = Path(args.data)
    if not (folder / "emotion" / "train.jsonl").is_file():
        print(f"emotion data not found under {folder} (pass --data or set BERTFEAT_DATA)", file=sys.stderr)
        return 2
    X_train, y_train = read_split(folder, "train")
    X_valid, y_valid = read_split(folder, "validation")
    if args.train_rows:
        X_train, y_train = X_train[: args.train_rows], y_train[: args.train_rows]
    command = "OMP_NUM_THREADS={} python {}".format(
        os.environ.get("OMP_NUM_THREADS", "?"), " ".join(shlex.quote(a) for a in [sys.argv[0]] + (argv or sys.argv[1:]))
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    tokenizer = load_tokenizer(Path(default_model_path()))
    valid_tokens = tokenize(tokenizer, X_valid, False, args.max_length, "head", 0)
    runtime = Runtime(torch.device("cpu"), torch.float32, tokenizer.pad_token_id, 32, 4096)

    class ValidationReport(Callback):
        """Scores the validation split after every epoch and rewrites the snippet."""

        def on_train_begin(self, state):
            self.rows, self.eval_seconds = [], 0.0

        def on_epoch_end(self, state):
            started = time.perf_counter()
            predicted = clf.classes_[predict_logits(state.module, valid_tokens, runtime).argmax(1).numpy()]
            row = dict(
                state.row,
                accuracy=accuracy_score(y_valid, predicted),
                f1_macro=f1_score(y_valid, predicted, average="macro"),
                train_minutes=(started - fit_started - self.eval_seconds) / 60,
            )
            self.eval_seconds += time.perf_counter() - started
            self.rows.append(row)
            print(f"[validation] {row}", flush=True)
            out.write_text(report(args, command, len(X_train), len(X_valid), self.rows, None), encoding="utf-8")

    scores = ValidationReport()
    clf = FineTuneClassifier(
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        max_length=args.max_length,
        random_state=args.seed,
        verbose=1,
        callbacks=[scores],
    )
    fit_started = time.perf_counter()
    clf.fit(X_train, y_train)
    fit_minutes = (time.perf_counter() - fit_started - scores.eval_seconds) / 60
    started = time.perf_counter()
    predicted = clf.predict(X_valid)
    final = dict(
        accuracy=accuracy_score(y_valid, predicted),
        f1_macro=f1_score(y_valid, predicted, average="macro"),
        fit_minutes=fit_minutes,
        predict_seconds=time.perf_counter() - started,
    )
    print(classification_report(y_valid, predicted, digits=3))
    if args.save:
        clf.save_pretrained(args.save)
    text = report(args, command, len(X_train), len(X_valid), scores.rows, final)
    out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
