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
