"""What each ``bertfeat`` command does. Each takes the parsed ``argparse`` namespace."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

MODEL_FOLDER = "model"  # a bertfeat.persist folder: JSON + safetensors, never a pickle
OLD_MODEL_FILE = "pipeline.joblib"  # what bertfeat wrote before: a pickle, refused
META_FILE = "bertfeat.json"
HF_FOLDER = "huggingface"


class UsageError(ValueError):
    """Arguments that do not fit together."""


def _layers(text: str):
    if text == "last":
        return "last"
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(f"--layers {text!r}: expected 'last' or comma-separated integers like -4,-3,-2,-1") from None


def _vectorizer(args, **extra):
    from bertfeat import BertVectorizer

    return BertVectorizer(
        model=args.model,
        pooling=args.pooling,
        layers=_layers(args.layers),
        layer_agg=args.layer_agg,
        max_length=args.max_length,
        cache_dir=args.cache_dir,
        device=args.device,
        fast_mode=getattr(args, "fast_mode", None),
        **extra,
    )


def _read(args, path, need_labels=False):
    from bertfeat.cli.readers import read_table

    return read_table(path, args.text_column, args.pair_column, getattr(args, "label_column", None), need_labels)


def _write_table(frame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        raise UsageError(f"{path}: unknown output format {suffix or '(none)'}; use .csv, .tsv, .jsonl or .parquet")


def _scores(y_true, y_pred) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {"accuracy": float(accuracy_score(y_true, y_pred)), "f1_macro": float(f1_score(y_true, y_pred, average="macro"))}


# -- demo ------------------------------------------------------------------------------
def demo(args) -> None:
    """Cross-validated pipeline on the shipped demo set, then a held-out report with pictures."""
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_validate, train_test_split
    from sklearn.pipeline import make_pipeline

    from bertfeat import BertVectorizer, encoding_stats
    from bertfeat.datasets import load_demo

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    texts, labels = load_demo()
    print(f"demo data: {len(texts)} customer-support messages, intents {sorted(set(map(str, labels)))}")
    vectorizer = BertVectorizer(model=args.model, cache_dir=out / "cache")
    pipe = make_pipeline(vectorizer, LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=0)
    started = time.perf_counter()
    cv = cross_validate(pipe, texts, labels, cv=folds, scoring=("accuracy", "f1_macro"))
    dummy = cross_validate(DummyClassifier(), np.zeros((len(texts), 1)), labels, cv=folds, scoring="accuracy")
    seconds = time.perf_counter() - started
    acc, f1 = cv["test_accuracy"], cv["test_f1_macro"]
    print(f"{args.folds}-fold cross-validated accuracy: {acc.mean():.3f} ± {acc.std():.3f}  (macro-F1 {f1.mean():.3f}; "
          f"majority baseline {dummy['test_score'].mean():.3f}); {seconds:.1f} s")
    print(f"texts encoded: {encoding_stats()['texts']} for {len(texts)} distinct texts over {args.folds} folds (disk cache)")

    train_x, test_x, train_y, test_y = train_test_split(texts, labels, test_size=0.25, stratify=labels, random_state=0)
    pipe.fit(train_x, train_y)
    report = _report(pipe, test_x, test_y, out, pictures=not args.no_pictures, features_of=texts, feature_labels=labels)
    report["cross_validation"] = {"folds": args.folds, "accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std()),
                                  "f1_macro_mean": float(f1.mean()), "baseline_accuracy": float(dummy["test_score"].mean())}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"held-out accuracy {report['accuracy']:.3f}, macro-F1 {report['f1_macro']:.3f} on {len(test_x)} messages")
    print(f"report and pictures in {out}/")


def _report(estimator, X, y, out: Path, pictures: bool, features_of=None, feature_labels=None) -> dict:
    """Scores, per-class report, worst examples and pictures of ``estimator`` on ``(X, y)``."""
    from sklearn.metrics import classification_report

    from bertfeat.viz import error_table, per_example_loss

    y = np.asarray(y)
    predicted = estimator.predict(X)
    report = _scores(y, predicted)
    report["n"] = len(y)
    report["per_class"] = classification_report(y, predicted, output_dict=True, zero_division=0)
    (out / "classification_report.txt").write_text(classification_report(y, predicted, zero_division=0))
    loss = per_example_loss(estimator, X, y)
    texts = [f"{x[0]} ||| {x[1]}" if isinstance(x, tuple) else x for x in X]
    table = error_table(texts, y, predicted, loss, n=10)
    table.to_csv(out / "worst_and_best_examples.csv", index=False)
    report["mean_loss"] = float(np.mean(loss))
    if pictures:
        from bertfeat.viz import confusion_matrix_plot, umap_panels

        confusion_matrix_plot(y, predicted, path=out / "confusion_matrix.png", title="Normalized confusion matrix")
        vectorizer = _vectorizer_of(estimator)
        if vectorizer is not None and features_of is not None:
            features = vectorizer.transform(features_of)
            umap_panels(features, feature_labels, path=out / "umap_panels.png", title="UMAP of the features, one panel per label")
    return report


def _vectorizer_of(estimator):
    from bertfeat import BertVectorizer

    steps = getattr(estimator, "steps", None)
    if steps and isinstance(steps[0][1], BertVectorizer):
        return steps[0][1]
    return estimator if hasattr(estimator, "transform") else None


# -- embed -----------------------------------------------------------------------------
def embed(args) -> None:
    table = _read(args, args.input)
    vectorizer = _vectorizer(args, normalize=args.normalize, progress=True)
    started = time.perf_counter()
    features = vectorizer.fit_transform(table.X)
    seconds = time.perf_counter() - started
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".npy":
        np.save(out, features)
    elif out.suffix.lower() == ".parquet":
        import pandas as pd

        pd.DataFrame(features, columns=vectorizer.get_feature_names_out()).to_parquet(out, index=False)
    else:
        raise UsageError(f"{out}: unknown feature file format; use .npy or .parquet")
    print(f"{features.shape[0]} rows x {features.shape[1]} features -> {out} ({seconds:.1f} s)")


# -- train / predict / evaluate ----------------------------------------------------------
def _head(args, n_classes: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    if args.head == "logreg":
        return make_pipeline(_vectorizer(args), LogisticRegression(C=args.C, max_iter=2000))
    if args.head == "mlp":
        from bertfeat import MLPHeadClassifier

        return make_pipeline(_vectorizer(args), MLPHeadClassifier(random_state=0))
    from bertfeat import FineTuneClassifier

    return FineTuneClassifier(model=args.model, max_epochs=args.epochs, random_state=0, device=args.device,
                              **({"max_length": args.max_length} if args.max_length else {}))


def train(args) -> None:
    from bertfeat import persist

    table = _read(args, args.data, need_labels=True)
    estimator = _head(args, len(np.unique(table.y)))
    started = time.perf_counter()
    estimator.fit(table.X, table.y)
    seconds = time.perf_counter() - started
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    # The encoder goes inside the folder unless it is the embedded default: the folder
    # predicts on another machine, and loading it reads no location from a file.
    persist.save(estimator, out / MODEL_FOLDER, include_model=args.model is not None, overwrite=True)
    if args.head == "finetune":
        estimator.save_pretrained(out / HF_FOLDER)
    meta = {"head": args.head, "text_column": table.text_column, "pair_column": table.pair_column,
            "label_column": table.label_column, "classes": [str(c) for c in estimator.classes_],
            "trained_on": str(args.data), "rows": len(table.X), "seconds": round(seconds, 1)}
    (out / META_FILE).write_text(json.dumps(meta, indent=2))
    train_scores = _scores(table.y, estimator.predict(table.X))
    print(f"trained {args.head} on {len(table.X)} rows in {seconds:.1f} s; train accuracy {train_scores['accuracy']:.3f}; saved to {out}/")


def _load(model_dir):
    """The model and its metadata, through bertfeat.persist (no pickle is ever read)."""
    from bertfeat import persist

    folder = Path(model_dir)
    meta = _read_meta(folder)
    if not (folder / MODEL_FOLDER).is_dir():
        if (folder / OLD_MODEL_FILE).is_file():
            how = f"bertfeat train {meta.get('trained_on', 'DATA')} --head {meta.get('head', 'logreg')} -o {folder}"
            raise UsageError(
                f"{folder}: holds {OLD_MODEL_FILE}, a pickle written by an older bertfeat; a pickle runs code when "
                f"loaded, so it is not read. Re-create the folder with the same training command, e.g. '{how}' "
                f"(add the --model and column options you used)"
            )
        raise UsageError(f"{folder}: not a bertfeat model folder (no {MODEL_FOLDER}/); make one with 'bertfeat train'")
    return persist.load(folder / MODEL_FOLDER), meta


def _read_meta(folder: Path) -> dict:
    path = folder / META_FILE
    if not path.is_file():
        return {}
    if path.stat().st_size > 1 << 20:
        raise UsageError(f"{path}: larger than the metadata bertfeat writes; refusing to read it")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise UsageError(f"{path}: not the metadata bertfeat writes (a JSON object)")
    return {k: v for k, v in meta.items() if isinstance(v, (str, int, float, list)) or v is None}


def _columns(args, meta) -> None:
    """Columns default to those the model was trained with."""
    for name in ("text_column", "pair_column", "label_column"):
        if getattr(args, name, None) is None and meta.get(name):
            setattr(args, name, meta[name])


def predict(args) -> None:
    estimator, meta = _load(args.model_dir)
    _columns(args, meta)
    args.label_column = None
    table = _read(args, args.input)
    frame = table.frame[[c for c in (table.text_column, table.pair_column) if c]].copy()
    frame["prediction"] = estimator.predict(table.X)
    if hasattr(estimator, "predict_proba"):
        for name, column in zip(estimator.classes_, estimator.predict_proba(table.X).T):
            frame[f"proba_{name}"] = column
    _write_table(frame, Path(args.output))
    print(f"{len(frame)} predictions -> {args.output}")


def evaluate(args) -> None:
    estimator, meta = _load(args.model_dir)
    _columns(args, meta)
    table = _read(args, args.data, need_labels=True)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    y = table.y
    if meta.get("classes") and np.asarray(estimator.classes_).dtype.kind in "iu":
        y = y.astype(np.asarray(estimator.classes_).dtype)
    unseen = sorted(set(map(str, np.unique(y))) - set(map(str, estimator.classes_)))
    if unseen:
        raise UsageError(f"{args.data}: labels {unseen} were not seen in training (classes: {list(map(str, estimator.classes_))})")
    report = _report(estimator, table.X, y, out, pictures=not args.no_pictures)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"accuracy {report['accuracy']:.3f}, macro-F1 {report['f1_macro']:.3f} on {report['n']} rows; report in {out}/")
