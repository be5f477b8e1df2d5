"""What each ``bertfeat`` command does. Each takes the parsed ``argparse`` namespace."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from bertfeat.cli import tokens
from bertfeat.cli.readers import check_data_path, plain
from bertfeat.cli.shared import (
    UsageError,
    cache_dir_of,
    check_model_argument,
    check_output_file,
    check_output_folder,
    checked_vectorizer,
    read_data,
    say,
    show_progress,
    write_table,
)

MODEL_FOLDER = "model"  # a bertfeat.persist folder: JSON + safetensors, never a pickle
OLD_MODEL_FILE = "pipeline.joblib"  # what bertfeat wrote before: a pickle, refused
META_FILE = "bertfeat.json"
HF_FOLDER = "huggingface"


FEATURE_FORMATS = (".npy", ".parquet")
TABLE_FORMATS = (".csv", ".tsv", ".jsonl", ".parquet")


# -- demo ------------------------------------------------------------------------------
def demo(args) -> None:
    """Cross-validated pipeline on the shipped demo set, then a held-out report with pictures."""
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_validate, train_test_split
    from sklearn.pipeline import make_pipeline

    from bertfeat import BertVectorizer, encoding_stats
    from bertfeat.cli.report import write_report
    from bertfeat.datasets import load_demo

    out = check_output_folder(args.output, "demo report")
    if args.model is not None:
        check_model_argument(args)
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
    report = write_report(pipe, test_x, test_y, out, train_labels=train_y, pictures=not args.no_pictures,
                          title="bertfeat demo: held-out quarter of the demo set")
    report["cross_validation"] = {"folds": args.folds, "accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std()),
                                  "f1_macro_mean": float(f1.mean()), "baseline_accuracy": float(dummy["test_score"].mean())}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"held-out accuracy {report['accuracy']:.3f}, macro-F1 {report['f1_macro']:.3f} on {len(test_x)} messages")
    print(f"report and pictures in {out}/ (open {out / 'report.html'})")


def _vectorizer_of(estimator):
    """The BertVectorizer that starts a pipeline, or None (a fine-tuned model)."""
    from bertfeat import BertVectorizer

    steps = getattr(estimator, "steps", None)
    if steps and isinstance(steps[0][1], BertVectorizer):
        return steps[0][1]
    return None


# -- embed -----------------------------------------------------------------------------
def embed(args) -> None:
    out = check_output_file(args.output, FEATURE_FORMATS, "feature file")
    table = read_data(args, args.input)
    vectorizer = checked_vectorizer(args, normalize=args.normalize)
    say(args, f"encoding {len(table.X)} rows")
    started = time.perf_counter()
    features = vectorizer.fit_transform(table.X)
    seconds = time.perf_counter() - started
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".npy":
        np.save(out, features)
    else:
        import pandas as pd

        pd.DataFrame(features, columns=vectorizer.get_feature_names_out()).to_parquet(out, index=False)
    print(f"{features.shape[0]} rows x {features.shape[1]} features -> {out} ({seconds:.1f} s)")


# -- train / predict / evaluate ----------------------------------------------------------
def _head(args):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    if args.head == "logreg":
        return make_pipeline(checked_vectorizer(args), LogisticRegression(C=args.C, max_iter=2000))
    if args.head == "mlp":
        from bertfeat import MLPHeadClassifier

        return make_pipeline(checked_vectorizer(args), MLPHeadClassifier(random_state=0))
    from bertfeat import FineTuneClassifier

    check_model_argument(args)
    if args.C != 1.0:
        raise UsageError("--C sets the logistic regression; it has no effect with --head finetune")
    return FineTuneClassifier(model=args.model, max_epochs=args.epochs, random_state=0, device=args.device,
                              verbose=int(show_progress(args)), **({"max_length": args.max_length} if args.max_length else {}))


def _fit_once(estimator, X, y, args):
    """Fit, and predictions on the training set without encoding it a second time.

    A vectorizer pipeline is fitted step by step: the training features are computed
    once and serve both the head's fit and the training accuracy. A fine-tuned model
    would need another pass over the data, so it reports no training accuracy.
    """
    vectorizer = _vectorizer_of(estimator)
    if vectorizer is None:
        estimator.fit(X, y)
        return None
    say(args, f"encoding {len(X)} training rows")
    features = vectorizer.fit_transform(X)
    head = estimator[1:]
    say(args, f"fitting the {args.head} head on {features.shape[0]} x {features.shape[1]} features")
    head.fit(features, y)
    return head.predict(features)


def train(args) -> None:
    from sklearn.metrics import accuracy_score

    from bertfeat import persist

    if tokens.is_token_head(args.head):
        return tokens.train(args)
    out = check_output_folder(args.output, "model folder")
    table = read_data(args, args.data, need_labels=True)
    estimator = _head(args)
    started = time.perf_counter()
    train_predicted = _fit_once(estimator, table.X, table.y, args)
    seconds = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    # The encoder goes inside the folder unless it is the embedded default: the folder
    # predicts on another machine, and loading it reads no location from a file.
    persist.save(estimator, out / MODEL_FOLDER, include_model=args.model is not None, overwrite=True)
    if args.head == "finetune":
        estimator.save_pretrained(out / HF_FOLDER)
    classes, counts = np.unique(table.y, return_counts=True)
    meta = {"head": args.head, "text_column": table.text_column, "pair_column": table.pair_column,
            "label_column": table.label_column, "classes": [str(c) for c in estimator.classes_],
            "class_counts": {str(c): int(n) for c, n in zip(classes, counts)},
            "trained_on": str(args.data), "rows": len(table.X), "dropped_empty": table.dropped,
            "seconds": round(seconds, 1)}
    (out / META_FILE).write_text(json.dumps(meta, indent=2))
    accuracy = "not computed for finetune (another pass over the data)" if train_predicted is None else \
        f"{accuracy_score(table.y, train_predicted):.3f}"
    print(f"trained {args.head} on {len(table.X)} rows in {seconds:.1f} s; train accuracy {accuracy}; saved to {out}/")


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
    return {k: v for k, v in meta.items() if isinstance(v, (str, int, float, list, dict)) or v is None}


def _loaded_model(args):
    """The saved model, its cache and progress set from the command line."""
    estimator, meta = _load(args.model_dir)
    vectorizer = _vectorizer_of(estimator)
    if vectorizer is not None:
        keep_own = args.cache_dir is None and not args.no_cache and vectorizer.cache_dir is not None
        vectorizer.set_params(progress=show_progress(args), **({} if keep_own else {"cache_dir": cache_dir_of(args)}))
    elif hasattr(estimator, "verbose"):
        estimator.set_params(verbose=int(show_progress(args)))
    return estimator, meta


def _columns(args, meta) -> None:
    """Columns default to those the model was trained with."""
    for name in ("text_column", "pair_column", "label_column"):
        if getattr(args, name, None) is None and meta.get(name):
            setattr(args, name, meta[name])


def _check_model_folder(path) -> None:
    """Before any data is read: a model folder (an old pickle folder is refused by _load)."""
    folder = Path(path)
    if not (folder / MODEL_FOLDER).is_dir() and not (folder / OLD_MODEL_FILE).is_file():
        raise UsageError(f"{path}: not a bertfeat model folder (no {MODEL_FOLDER}/); make one with 'bertfeat train'")


def _token_meta(model_dir) -> dict | None:
    """The metadata of a token-classification model folder, else None."""
    meta = _read_meta(Path(model_dir))
    return meta if tokens.is_token_head(meta.get("head")) else None


def predict(args) -> None:
    meta = _token_meta(args.model_dir)
    if meta is not None:  # a tagger: CoNLL-style words in, the same format out
        return tokens.predict(args, meta)
    tokens.refuse_encoder_option(args)
    output = check_output_file(args.output, TABLE_FORMATS, "predictions file")
    check_data_path(args.input)
    _check_model_folder(args.model_dir)
    estimator, meta = _loaded_model(args)
    _columns(args, meta)
    args.label_column = None
    table = read_data(args, args.input)
    frame = table.frame[[c for c in (table.text_column, table.pair_column) if c]].copy()
    say(args, f"predicting {len(table.X)} rows")
    vectorizer = _vectorizer_of(estimator)
    if vectorizer is not None:  # features once, for both the labels and the probabilities
        features, model = vectorizer.transform(table.X), estimator[1:]
    else:
        features, model = table.X, estimator
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(features)
        frame["prediction"] = np.asarray(estimator.classes_)[np.argmax(proba, axis=1)]
        for name, column in zip(estimator.classes_, proba.T):
            frame[f"proba_{name}"] = column
    else:
        frame["prediction"] = model.predict(features)
    write_table(frame, output)
    print(f"{len(frame)} predictions -> {output}")


def evaluate(args) -> None:
    from bertfeat.cli.report import write_report

    meta = _token_meta(args.model_dir)
    if meta is not None:  # a tagger: entity-level scores
        return tokens.evaluate(args, meta)
    tokens.refuse_encoder_option(args)
    out = check_output_folder(args.output, "report folder")
    check_data_path(args.data)
    _check_model_folder(args.model_dir)
    if args.worst < 1:
        raise UsageError(f"--worst {args.worst}: expected a positive number of examples")
    estimator, meta = _loaded_model(args)
    _columns(args, meta)
    table = read_data(args, args.data, need_labels=True, min_classes=1)
    y = table.y
    classes = np.asarray(estimator.classes_)
    if classes.dtype.kind in "iu" and y.dtype.kind not in "iu":
        try:
            y = y.astype(classes.dtype)
        except ValueError:
            pass
    elif classes.dtype.kind not in "iu" and y.dtype.kind in "iu":
        y = y.astype(str)
    unseen = sorted(set(map(str, np.unique(y))) - set(map(str, classes)))
    if unseen:
        raise UsageError(f"{args.data}: labels {unseen} were not seen in training (classes: {[plain(c) for c in classes]})")
    out.mkdir(parents=True, exist_ok=True)
    counts = meta.get("class_counts")
    train_labels = np.repeat(classes, [counts.get(str(c), 0) for c in classes]) if counts else None
    report = write_report(estimator, table.X, y, out, train_labels=train_labels, pictures=not args.no_pictures,
                          label_names=table.label_names or None, worst=args.worst, say=lambda m: say(args, m),
                          title=f"bertfeat evaluate: {Path(args.model_dir).name} on {Path(args.data).name}")
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"accuracy {report['accuracy']:.3f}, macro-F1 {report['f1_macro']:.3f} on {report['n']} rows; "
          f"majority-class baseline {report['baselines']['majority']['accuracy']:.3f}, "
          f"stratified random {report['baselines']['stratified']['accuracy']:.3f}")
    if report["warning"]:
        print(f"WARNING: {report['warning']}")
    print(f"report in {out}/ (open {out / 'report.html'})")
