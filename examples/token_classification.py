"""Token classification (named entities) on a synthetic CoNLL-style set.

Person names and places are put into real emotion tweets (``bertfeat.datasets.synthetic_ner``);
the names and places of the test sentences never occur in training. Trains a fine-tuned
tagger (``FineTuneTokenClassifier``, defaults + ``max_epochs=5``) and a frozen one
(``FrozenTokenClassifier``, defaults: first-sub-token vectors + LogisticRegression) and
prints entity-level F1 for both. The data is also written as CoNLL files, so the command
line can be tried on it:

    python examples/token_classification.py [--data DIR] [--epochs 5] [--output DIR]
    bertfeat train OUT/train.conll --head tokens --epochs 5 -o OUT/tagger
    bertfeat evaluate OUT/tagger OUT/test.conll -o OUT/tagger-report
"""

from __future__ import annotations

import json
import time

from _common import data_folder, output_folder, parser


def read_texts(path) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle]


def write_conll(path, X, y) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for words, tags in zip(X, y):
            handle.writelines(f"{w} {t}\n" for w, t in zip(words, tags))
            handle.write("\n")


def show(name: str, report: dict, seconds: float) -> None:
    per_type = ", ".join(f"{k} {v['f1']:.3f}" for k, v in report.items() if k != "micro avg")
    micro = report["micro avg"]
    print(f"{name}: entity F1 {micro['f1']:.3f} (precision {micro['precision']:.3f}, recall {micro['recall']:.3f}; "
          f"per type: {per_type}) in {seconds:.0f} s")


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs")
    p.add_argument("--n-train", type=int, default=600, help="training sentences")
    p.add_argument("--n-test", type=int, default=200, help="test sentences")
    args = p.parse_args()
    root = data_folder(args.data, "emotion/train.jsonl")
    out = output_folder(args.output, "token_classification")

    from bertfeat.datasets.synthetic_ner import synthetic_ner
    from bertfeat.tokens import FineTuneTokenClassifier, FrozenTokenClassifier, entity_report

    n_train, n_test = args.n_train, args.n_test
    if args.limit:
        n_train, n_test = min(n_train, args.limit), min(n_test, max(10, args.limit // 2))
    X_train, y_train, X_test, y_test = synthetic_ner(
        read_texts(root / "emotion" / "train.jsonl"), read_texts(root / "emotion" / "validation.jsonl"),
        n_train=n_train, n_test=n_test, random_state=0,
    )
    write_conll(out / "train.conll", X_train, y_train)
    write_conll(out / "test.conll", X_test, y_test)
    n_entities = sum(t.startswith("B-") for tags in y_test for t in tags)
    print(f"synthetic NER: {len(X_train)} training sentences, {len(X_test)} test sentences with {n_entities} entities "
          f"(names and places at test time never seen in training); CoNLL files in {out}/")
    print("example:", " ".join(f"{w}/{t}" if t != "O" else w for w, t in zip(X_train[0], y_train[0])))

    started = time.perf_counter()
    tuned = FineTuneTokenClassifier(model=args.model, max_epochs=args.epochs, random_state=0, verbose=0)
    tuned.fit(X_train, y_train)
    show(f"fine-tuned tagger ({args.epochs} epochs)", entity_report(y_test, tuned.predict(X_test)), time.perf_counter() - started)

    started = time.perf_counter()
    frozen = FrozenTokenClassifier(model=args.model).fit(X_train, y_train)
    show("frozen first-sub-token vectors + LogisticRegression", entity_report(y_test, frozen.predict(X_test)),
         time.perf_counter() - started)
    print(f"try the command line: bertfeat train {out / 'train.conll'} --head tokens --epochs {args.epochs} -o {out / 'tagger'}"
          f" && bertfeat evaluate {out / 'tagger'} {out / 'test.conll'} -o {out / 'tagger-report'}")


if __name__ == "__main__":
    main()
