"""``bertfeat`` command line: demo, embed, train, predict, evaluate.

Exit codes: 0 success; 2 a usage or data problem (the message says which); 1 an
unexpected failure.
"""

from __future__ import annotations

import argparse
import sys

from bertfeat._pooling import LAYER_AGGS, POOLINGS

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _add_data_columns(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text-column", help="column with the texts (guessed from common names by default)")
    parser.add_argument("--pair-column", help="column with the second text of a sentence pair")
    parser.add_argument("--label-column", help="column with the labels (guessed by default)")


def _add_vectorizer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="model folder or Hub id (default: the embedded all-MiniLM-L6-v2)")
    parser.add_argument("--pooling", default="mean", choices=POOLINGS)
    parser.add_argument("--layers", default="last", help="'last' or comma-separated layer indices, written --layers=-4,-3,-2,-1")
    parser.add_argument("--layer-agg", default="mean", choices=LAYER_AGGS)
    parser.add_argument("--max-length", type=int, default=None, help="tokens per window (default: the model's maximum)")
    parser.add_argument("--cache-dir", default=None, help="disk cache folder (default: off)")
    parser.add_argument("--device", default="auto")
    from bertfeat.vectorizer import FAST_MODES

    parser.add_argument("--fast-mode", default=None, choices=[m for m in FAST_MODES if m is not None],
                        help="opt-in faster CPU inference; vectors change slightly (see BENCHMARKS.md)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bertfeat", description="BERT-family features and classifiers, scikit-learn style.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="train and evaluate a pipeline on the shipped demo set; write pictures")
    demo.add_argument("--output", "-o", default="bertfeat-demo", help="folder for the report and pictures")
    demo.add_argument("--model", default=None, help="model folder (default: the embedded all-MiniLM-L6-v2)")
    demo.add_argument("--folds", type=int, default=5)
    demo.add_argument("--no-pictures", action="store_true", help="skip the UMAP and confusion-matrix pictures")

    embed = sub.add_parser("embed", help="texts to a feature file (.npy or .parquet)")
    embed.add_argument("input", help="data file: .txt, .csv, .tsv, .jsonl or .parquet")
    embed.add_argument("--output", "-o", required=True, help="feature file: .npy or .parquet")
    _add_data_columns(embed)
    _add_vectorizer_options(embed)
    embed.add_argument("--normalize", action="store_true")

    train = sub.add_parser("train", help="fit a classifier and save it to a folder")
    train.add_argument("data", help="labelled data file")
    train.add_argument("--head", default="logreg", choices=["logreg", "mlp", "finetune"])
    train.add_argument("--output", "-o", required=True, help="model folder to write")
    train.add_argument("--C", type=float, default=1.0, help="inverse regularisation of the logistic regression")
    train.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs (head finetune)")
    _add_data_columns(train)
    _add_vectorizer_options(train)

    predict = sub.add_parser("predict", help="predict labels with a saved model")
    predict.add_argument("model_dir", metavar="MODEL")
    predict.add_argument("input")
    predict.add_argument("--output", "-o", required=True, help="predictions file: .csv, .tsv, .jsonl or .parquet")
    _add_data_columns(predict)

    evaluate = sub.add_parser("evaluate", help="scores, per-class report, pictures and worst examples")
    evaluate.add_argument("model_dir", metavar="MODEL")
    evaluate.add_argument("data")
    evaluate.add_argument("--output", "-o", required=True, help="report folder to write")
    evaluate.add_argument("--no-pictures", action="store_true")
    _add_data_columns(evaluate)
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
