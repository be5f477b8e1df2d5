"""What every example shares: the data folder, small slices, output folders."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", default=None, help="data folder (default: $BERTFEAT_DATA or ../shared/data)")
    p.add_argument("--model", default=None, help="model folder (default: the embedded all-MiniLM-L6-v2)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N rows of each split (smoke runs)")
    p.add_argument("--output", default=None, help="folder for pictures and reports")
    return p


def data_folder(arg: str | None, needed: str) -> Path:
    folder = Path(arg or os.environ.get("BERTFEAT_DATA") or DEFAULT_DATA)
    if not (folder / needed).exists():
        print(f"skipped: {folder / needed} not found; pass --data DIR or set BERTFEAT_DATA", file=sys.stderr)
        sys.exit(0)
    return folder


def output_folder(arg: str | None, name: str) -> Path:
    folder = Path(arg or Path("examples-output") / name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def read_jsonl(path: Path, limit: int | None = None):
    texts, labels, names = [], [], {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            texts.append(row["text"])
            labels.append(row["label"])
            names[row["label"]] = row.get("label_text", str(row["label"]))
            if limit and len(texts) >= limit:
                break
    return texts, labels, [names[k] for k in sorted(names)]


def chinese_model(model_arg: str | None, out: Path, data_root: Path) -> str:
    """A Chinese model folder: the one given, else random weights on the real vocabulary.

    Offline, only the bert-base-chinese tokenizer is real here (no weights can be
    downloaded): the random encoder shows the plumbing, not BERT's quality. Point
    ``--model`` at a real Chinese model folder (e.g. bert-base-chinese saved with
    ``save_pretrained``) for real scores.
    """
    if model_arg:
        return model_arg
    vocab = data_root.parent / "models" / "bert-base-chinese-tokenizer"
    if not (vocab / "vocab.txt").is_file():
        print(f"skipped: no --model and no Chinese vocabulary at {vocab}", file=sys.stderr)
        sys.exit(0)
    folder = out / "random-chinese-bert"
    if not (folder / "config.json").is_file():
        import torch
        from transformers import AutoTokenizer, BertConfig, BertModel

        tokenizer = AutoTokenizer.from_pretrained(str(vocab))
        config = BertConfig.from_pretrained(str(vocab), hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                                            intermediate_size=1024)
        torch.manual_seed(0)
        BertModel(config).save_pretrained(str(folder))
        tokenizer.save_pretrained(str(folder))
    print("NOTE: offline, only the Chinese tokenizer is real; the encoder has RANDOM weights "
          "(pass --model with a real Chinese BERT folder for meaningful scores).")
    return str(folder)


def scores(y_true, y_pred) -> str:
    from sklearn.metrics import accuracy_score, f1_score

    return f"accuracy {accuracy_score(y_true, y_pred):.3f}, macro-F1 {f1_score(y_true, y_pred, average='macro'):.3f}"
