"""Shared data loading for the benchmarks: the folder comes from --data or BERTFEAT_DATA."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data"


def data_folder(arg: str | None) -> Path:
    folder = Path(arg or os.environ.get("BERTFEAT_DATA") or DEFAULT)
    if not (folder / "emotion" / "train.jsonl").is_file():
        sys.exit(f"emotion data not found under {folder}: pass --data DIR or set BERTFEAT_DATA")
    return folder


def load_emotion(folder: Path, split: str):
    texts, labels = [], []
    with open(folder / "emotion" / f"{split}.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            texts.append(row["text"])
            labels.append(row["label"])
    return texts, labels
