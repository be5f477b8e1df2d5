"""``bertfeat`` command line: demo, embed, train, predict, evaluate.

Exit codes: 0 success; 2 a usage or data problem (the message says which); 1 an
unexpected failure.
"""

from __future__ import annotations

import argparse
import sys

from bertfeat._pooling import LAYER_AGGS, VECTORIZER_POOLINGS
from bertfeat.vectorizer import FAST_MODES

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _add_data_columns(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text-column", help="column with the texts (default: guessed from common names)")
    parser.add_argument("--pair-column", help="column with the second text of a sentence pair")
    parser.add_argument("--label-column", help="column with the labels (default: guessed)")
    parser.add_argument("--drop-empty", action="store_true",
                        help="drop rows whose text is empty and say how many (default: refuse them, naming the line)")


def _add_run_options(parser: argparse.ArgumentParser, cache: bool = True) -> None:
    """Progress and cache: every command that encodes texts."""
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar while encoding (default: on when stderr is a terminal)")
    if cache:
        parser.add_argument("--cache-dir", default=None,
                            help="disk cache of vectors, so a second command on the same texts encodes nothing "
                                 "(default: $BERTFEAT_HOME/cache, else ~/.cache/bertfeat/cache)")
        parser.add_argument("--no-cache", action="store_true", help="encode without the disk cache")


def _add_vectorizer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="model folder or Hub id (default: the embedded all-MiniLM-L6-v2)")
    parser.add_argument("--pooling", default="mean", choices=VECTORIZER_POOLINGS, help="how token vectors become one (tokens: the first --max-length token states, flattened)")
    parser.add_argument("--layers", default="last", help="'last' or comma-separated layer indices, written --layers=-4,-3,-2,-1")
    parser.add_argument("--layer-agg", default="mean", choices=LAYER_AGGS, help="how several layers combine")
    parser.add_argument("--max-length", type=int, default=None, help="tokens per window (default: the model's maximum)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--fast-mode", default=None, choices=[m for m in FAST_MODES if m is not None],
                        help="opt-in faster CPU inference; vectors change slightly (see BENCHMARKS.md)")


def _add_tagger_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None,
                        help="only for a --head tokens-frozen folder saved by bertfeat before it held its encoder: "
                             "that encoder folder again (its fingerprint is checked); other model folders hold their encoder")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every default that is a value (not the None of "guessed" or "off")."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bertfeat", description="BERT-family features and classifiers, scikit-learn style.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=lambda **kw: argparse.ArgumentParser(formatter_class=_HelpFormatter, **kw))

    demo = sub.add_parser("demo", help="train and evaluate a pipeline on the shipped demo set; write pictures")
    demo.add_argument("--output", "-o", default="bertfeat-demo", help="folder for the report and pictures")
    demo.add_argument("--model", default=None, help="model folder (default: the embedded all-MiniLM-L6-v2)")
    demo.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    demo.add_argument("--no-pictures", action="store_true", help="skip the UMAP and confusion-matrix pictures")

    embed = sub.add_parser("embed", help="texts to a feature file (.npy or .parquet)")
    embed.add_argument("input", help="data file: .txt, .csv, .tsv, .jsonl or .parquet")
    embed.add_argument("--output", "-o", required=True, help="feature file: .npy or .parquet")
    _add_data_columns(embed)
    _add_vectorizer_options(embed)
    _add_run_options(embed)
    embed.add_argument("--normalize", action="store_true", help="unit-length vectors")

    train = sub.add_parser("train", help="fit a classifier and save it to a folder")
    train.add_argument("data", help="labelled data file (the token heads: a CoNLL-style 'word tag' file)")
    train.add_argument("--head", default="logreg", choices=["logreg", "mlp", "finetune", "tokens", "tokens-frozen"],
                       help="logistic regression or MLP on frozen features, or fine-tuning the encoder; "
                            "tokens / tokens-frozen: a tagger (named entities) fine-tuned, or a classifier on "
                            "frozen word vectors, trained on a CoNLL-style file")
    train.add_argument("--output", "-o", required=True, help="model folder to write")
    train.add_argument("--C", type=float, default=1.0, help="inverse regularisation of the logistic regression")
    train.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs (heads finetune and tokens)")
    _add_data_columns(train)
    _add_vectorizer_options(train)
    _add_run_options(train)

    predict = sub.add_parser("predict", help="predict labels with a saved model (a tagger: CoNLL-style words in and out)")
    predict.add_argument("model_dir", metavar="MODEL")
    predict.add_argument("input")
    predict.add_argument("--output", "-o", required=True, help="predictions file: .csv, .tsv, .jsonl or .parquet (a tagger: CoNLL-style word and tag lines, any name)")
    _add_tagger_model(predict)
    _add_data_columns(predict)
    _add_run_options(predict)

    evaluate = sub.add_parser("evaluate", help="scores, per-class report, pictures and worst examples "
                                               "(a tagger: entity precision, recall and F1 per type)")
    evaluate.add_argument("model_dir", metavar="MODEL")
    evaluate.add_argument("data")
    evaluate.add_argument("--output", "-o", required=True, help="report folder to write")
    evaluate.add_argument("--no-pictures", action="store_true", help="skip the confusion-matrix and UMAP pictures")
    evaluate.add_argument("--label-names-column", default=None,
                          help="column naming each label, such as emotion's label_text (default: the labels themselves)")
    evaluate.add_argument("--worst", type=int, default=10, help="highest-loss examples to list")
    _add_tagger_model(evaluate)
    _add_data_columns(evaluate)
    _add_run_options(evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    from bertfeat.cli import commands
    from bertfeat.cli.readers import DataError

    args = build_parser().parse_args(argv)
    handler = getattr(commands, args.command)
    try:
        handler(args)
    except (DataError, FileNotFoundError, commands.UsageError) as exc:
        print(f"bertfeat {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, TypeError, ImportError) as exc:  # bad parameters, input rows, a missing extra
        print(f"bertfeat {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
