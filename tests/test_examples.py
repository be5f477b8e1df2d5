"""Each example runs end to end on a small slice (skipped when the shared data is absent)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

EXAMPLES = {
    "emotion.py": (["--limit", "120", "--finetune-epochs", "1", "--finetune-limit", "60"], ["mean features + LogisticRegression", "Hugging Face export"]),
    "chinese_reviews.py": (["--limit", "120"], ["Chinese BERT features + LogisticRegression"]),
    "sentence_pairs.py": (["--limit", "80", "--finetune-epochs", "1"], ["[MRPC] pair features", "[WSDM] fine-tuned pair classifier"]),
    "grid_search.py": (["--limit", "60"], ["texts encoded: 240 = 4 model setups x 60 distinct texts"]),
    "few_labels.py": (["--limit", "40", "--per-class", "2", "--iterations", "1"],
                      ["ContrastiveClassifier (24 pairs", "BertVectorizer reads the tuned encoder", "pair_mode='bi'"]),
    "deploy.py": (["--limit", "60"], ["store_weights=False: pickle", "fresh CPU process predicts identically"]),
    "token_classification.py": (["--limit", "40", "--epochs", "1"], ["fine-tuned tagger (1 epochs): entity F1",
                                                                     "frozen first-sub-token vectors + LogisticRegression: entity F1"]),
}


@pytest.mark.parametrize("script", sorted(EXAMPLES))
def test_example_smoke(script, tiny_bert, shared_data, tmp_path):
    args, expected = EXAMPLES[script]
    model = [] if script == "chinese_reviews.py" else ["--model", str(tiny_bert)]
    env = dict(os.environ, BERTFEAT_DATA=str(shared_data), OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT),
               BERTFEAT_HOME=str(tmp_path / "home"), MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, str(ROOT / "examples" / script), *args, *model, "--output", str(tmp_path)],
                            capture_output=True, text=True, env=env, cwd=ROOT / "examples", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for text in expected:
        assert text in result.stdout, result.stdout[-3000:]


def test_examples_skip_cleanly_without_data(tmp_path):
    env = dict(os.environ, BERTFEAT_DATA=str(tmp_path / "absent"), PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "grid_search.py")], capture_output=True, text=True,
                            env=env, cwd=ROOT / "examples", timeout=300)
    assert result.returncode == 0 and "skipped" in result.stderr
