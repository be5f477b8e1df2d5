"""The ``bertfeat`` commands for token classification (``--head tokens`` and
``--head tokens-frozen``): train on a CoNLL-style file, predict into the same format,
evaluate with entity-level precision, recall and F1.

The model folder is the sentence heads' (``bertfeat.persist`` folder ``model/``, never a
pickle, plus ``bertfeat.json``); the fine-tuned tagger also writes its Hugging Face
token-classification folder ``huggingface/``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bertfeat._files import read_conll
from bertfeat.cli.shared import (
    UsageError,
    cache_dir_of,
    check_model_argument,
    check_output_folder,
    check_writable,
    parse_layers,
    say,
    show_progress,
)

TOKEN_HEADS = ("tokens", "tokens-frozen")
MODEL_FOLDER, META_FILE, HF_FOLDER = "model", "bertfeat.json", "huggingface"
REPORT_TEXT, PREDICTIONS = "entity_report.txt", "predictions.conll"

# Options of the sentence commands that mean nothing for word files: refused rather than ignored.
_TABLE_OPTIONS = ("text_column", "pair_column", "label_column", "label_names_column")
_SENTENCE_DEFAULTS = {"pooling": "mean", "layers": "last", "layer_agg": "mean", "fast_mode": None, "worst": 10}
_FROZEN_USES = ("layers", "layer_agg")  # the frozen tagger reads these layers for its word vectors


def is_token_head(head) -> bool:
    return head in TOKEN_HEADS


def _refuse_sentence_options(args, head: str) -> None:
    """Column and sentence-pooling options do not apply to word files: say so."""
    given = [name for name in _TABLE_OPTIONS if getattr(args, name, None) is not None]
    given += [name for name, default in _SENTENCE_DEFAULTS.items() if getattr(args, name, default) != default
              and not (name in _FROZEN_USES and head == "tokens-frozen")]
    if getattr(args, "drop_empty", False):
        given.append("drop_empty")
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise UsageError(f"{flags}: not used by the token head {head!r} (its data are CoNLL-style word files)")


def refuse_encoder_option(args) -> None:
    """``predict`` / ``evaluate --model`` is for frozen taggers whose encoder stayed outside."""
    if getattr(args, "model", None) is not None:
        raise UsageError(f"--model {args.model}: this model folder holds its encoder (or uses the embedded one); "
                         "leave --model out")


def _check_data(path) -> Path:
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if path.is_dir():
        raise UsageError(f"{path}: is a folder, expected a CoNLL-style file (one 'word tag' line per word)")
    return path


def _estimator(args):
    """The tagger the arguments ask for, its parameters checked (nothing loaded yet)."""
    from bertfeat.tokens import FineTuneTokenClassifier, FrozenTokenClassifier

    check_model_argument(args)
    if args.head == "tokens":
        if args.C != 1.0:
            raise UsageError("--C sets the logistic regression; it has no effect with --head tokens")
        params = dict(model=args.model, max_epochs=args.epochs, random_state=0, device=args.device,
                      verbose=int(show_progress(args)))
        if args.max_length is not None:
            params["max_length"] = args.max_length
        return FineTuneTokenClassifier(**params)
    if args.epochs != 3:
        raise UsageError("--epochs sets fine-tuning; it has no effect with --head tokens-frozen")
    params = dict(model=args.model, device=args.device, cache_dir=cache_dir_of(args), layers=parse_layers(args.layers),
                  layer_agg=args.layer_agg, progress=show_progress(args))
    if args.max_length is not None:
        params["max_length"] = args.max_length
    if args.C != 1.0:  # else the tagger's own default head
        from sklearn.linear_model import LogisticRegression

        params["head"] = LogisticRegression(C=args.C, max_iter=1000)
    return FrozenTokenClassifier(**params)


def train(args) -> None:
    """``bertfeat train FILE --head tokens|tokens-frozen -o DIR``."""
    from bertfeat import persist

    _refuse_sentence_options(args, args.head)
    out = check_output_folder(args.output, "model folder")
    data = read_conll(_check_data(args.data), tags=True)
    estimator = _estimator(args)
    n_words = sum(map(len, data.words))
    say(args, f"training the {args.head} head on {len(data.words)} sentences ({n_words} words)")
    started = time.perf_counter()
    estimator.fit(data.words, data.tags)
    seconds = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    # As for the sentence heads: the encoder goes inside unless it is the embedded default.
    persist.save(estimator, out / MODEL_FOLDER, include_model=args.model is not None, overwrite=True)
    if args.head == "tokens":
        estimator.save_pretrained(out / HF_FOLDER)
    tag_counts: dict[str, int] = {}
    for tags in data.tags:
        for tag in tags:
            tag_counts[tag] = tag_counts.get(tag, 0) + 1
    # Both taggers hold their encoder (saved above). Only a folder from an earlier bertfeat
    # says "by reference": predicting from it needs that --model again (see _loaded).
    encoder = "embedded default" if args.model is None else "inside"
    meta = {"head": args.head, "format": "conll", "encoder": encoder, "classes": [str(c) for c in estimator.classes_],
            "tag_counts": dict(sorted(tag_counts.items())), "trained_on": str(args.data),
            "sentences": len(data.words), "words": n_words, "seconds": round(seconds, 1)}
    (out / META_FILE).write_text(json.dumps(meta, indent=2))
    print(f"trained {args.head} on {len(data.words)} sentences ({n_words} words, tags {meta['classes']}) "
          f"in {seconds:.1f} s; saved to {out}/")


def _loaded(args, meta: dict):
    """The saved tagger through ``bertfeat.persist``, its cache and progress from the command line."""
    from bertfeat import persist

    local = {}
    if meta.get("head") == "tokens-frozen":
        local["cache_dir"] = cache_dir_of(args)
    if meta.get("encoder") == "by reference":
        if args.model is None:
            raise UsageError(f"{args.model_dir}: this frozen tagger was trained on an encoder that is not saved inside "
                             "the folder; name that encoder folder with --model PATH (its fingerprint is checked)")
        check_model_argument(args)
        local["model"] = args.model
    else:
        refuse_encoder_option(args)
    estimator = persist.load(Path(args.model_dir) / MODEL_FOLDER, **local)
    accepted = estimator.get_params(deep=False)
    if "verbose" in accepted:
        estimator.set_params(verbose=int(show_progress(args)))
    if "progress" in accepted:
        estimator.set_params(progress=show_progress(args))
    return estimator


def write_conll(path: Path, words: list[list[str]], *tag_columns: list[list[str]]) -> None:
    """One ``word tag ...`` line per word, a blank line after each sentence."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for s, sentence in enumerate(words):
            for w, word in enumerate(sentence):
                handle.write(" ".join([word, *(column[s][w] for column in tag_columns)]) + "\n")
            handle.write("\n")


def predict(args, meta: dict) -> None:
    """``bertfeat predict MODEL FILE -o OUT``: the words of FILE, each with its predicted tag."""
    _refuse_sentence_options(args, meta["head"])
    output = Path(args.output)
    if output.is_dir():
        raise UsageError(f"{output}: is a folder; give a file name for the predictions (CoNLL format)")
    check_writable(output, "predictions file")
    data = read_conll(_check_data(args.input), tags=False)
    estimator = _loaded(args, meta)
    say(args, f"predicting {len(data.words)} sentences")
    predicted = estimator.predict(data.words)
    write_conll(output, data.words, predicted)
    print(f"{len(data.words)} sentences ({sum(map(len, data.words))} words) tagged -> {output}")


def format_report(report: dict) -> str:
    """The entity report as a table, one row per type then the overall (micro) row."""
    rows = [(name, scores) for name, scores in report.items() if name != "micro avg"]
    width = max([len("micro avg"), *(len(name) for name, _ in rows)])
    lines = [f"{'':{width}}  precision  recall  f1-score  support"]
    for name, scores in [*rows, ("micro avg", report["micro avg"])]:
        if name == "micro avg":
            lines.append("")
        lines.append(f"{name:>{width}}  {scores['precision']:9.3f}  {scores['recall']:6.3f}  "
                     f"{scores['f1']:8.3f}  {scores['support']:7d}")
    return "\n".join(lines)


def evaluate(args, meta: dict) -> None:
    """``bertfeat evaluate MODEL FILE -o DIR``: entity precision / recall / F1 per type and
    overall, printed and written (``report.json``, ``entity_report.txt``, and
    ``predictions.conll`` with ``word true predicted`` lines, conlleval's input)."""
    from bertfeat.tokens import entity_report

    _refuse_sentence_options(args, meta["head"])
    out = check_output_folder(args.output, "report folder")
    data = read_conll(_check_data(args.data), tags=True)
    estimator = _loaded(args, meta)
    say(args, f"tagging {len(data.words)} sentences")
    predicted = estimator.predict(data.words)
    report = entity_report(data.tags, predicted)
    words = sum(map(len, data.words))
    correct = sum(t == p for true, pred in zip(data.tags, predicted) for t, p in zip(true, pred))
    table = format_report(report)
    out.mkdir(parents=True, exist_ok=True)
    (out / REPORT_TEXT).write_text(table + "\n", encoding="utf-8")
    write_conll(out / PREDICTIONS, data.words, data.tags, [list(map(str, p)) for p in predicted])
    summary = {"head": meta["head"], "model": str(args.model_dir), "data": str(args.data), "sentences": len(data.words),
               "words": words, "word_accuracy": correct / words, "entities": report}
    (out / "report.json").write_text(json.dumps(summary, indent=2))
    print(table)
    micro = report["micro avg"]
    print(f"entity micro F1 {micro['f1']:.3f} (precision {micro['precision']:.3f}, recall {micro['recall']:.3f}) "
          f"on {micro['support']} entities in {len(data.words)} sentences; word accuracy {correct / words:.3f}")
    print(f"report in {out}/ ({REPORT_TEXT}, report.json, {PREDICTIONS})")
