"""The command line end to end, on a tiny model and small temporary data sets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bertfeat.cli import main

pd = pytest.importorskip("pandas")
ROOT = Path(__file__).resolve().parents[1]

POSITIVE = ["great stay, friendly staff", "lovely room and a great view", "the breakfast was great", "great value, would return",
            "clean, quiet and great service", "a great location near the station"]
NEGATIVE = ["dirty room and rude staff", "awful noise all night", "the shower was broken and dirty", "rude reception, awful stay",
            "never again, dirty sheets", "awful food and a broken lift"]


@pytest.fixture
def labelled(tmp_path) -> Path:
    frame = pd.DataFrame({"review": POSITIVE + NEGATIVE, "label": ["pos"] * 6 + ["neg"] * 6})
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    return path


def run(*args) -> int:
    return main([str(a) for a in args])


def test_embed_writes_npy_and_parquet(tiny_bert, labelled, tmp_path):
    assert run("embed", labelled, "-o", tmp_path / "f.npy", "--model", tiny_bert) == 0
    features = np.load(tmp_path / "f.npy")
    assert features.shape == (12, 32) and features.dtype == np.float32
    assert run("embed", labelled, "-o", tmp_path / "f.parquet", "--model", tiny_bert, "--pooling", "cls", "--layers=-2,-1", "--layer-agg", "concat") == 0
    frame = pd.read_parquet(tmp_path / "f.parquet")
    assert frame.shape == (12, 64) and frame.columns[0] == "bertvectorizer0"


def test_embed_pairs_from_text_a_text_b(tiny_bert, tmp_path):
    from bertfeat import BertVectorizer

    pairs = [("a cat sat", "a cat was sitting"), ("stocks fell", "it rained")]
    pd.DataFrame(pairs, columns=["text_a", "text_b"]).to_csv(tmp_path / "pairs.tsv", sep="\t", index=False)
    assert run("embed", tmp_path / "pairs.tsv", "-o", tmp_path / "p.npy", "--model", tiny_bert) == 0
    want = BertVectorizer(model=str(tiny_bert)).fit(pairs).transform(pairs)
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), want, atol=1e-6)


@pytest.mark.parametrize("head", ["logreg", "mlp"])
def test_train_predict_evaluate(tiny_bert, labelled, tmp_path, head):
    model = tmp_path / "model"
    assert run("train", labelled, "--head", head, "-o", model, "--model", tiny_bert) == 0
    meta = json.loads((model / "bertfeat.json").read_text())
    assert meta["text_column"] == "review" and meta["classes"] == ["neg", "pos"]
    new = tmp_path / "new.jsonl"
    pd.DataFrame({"review": ["great staff", "dirty and awful"]}).to_json(new, orient="records", lines=True)
    assert run("predict", model, new, "-o", tmp_path / "pred.csv") == 0
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert list(pred.columns) == ["review", "prediction", "proba_neg", "proba_pos"]
    np.testing.assert_allclose(pred[["proba_neg", "proba_pos"]].sum(axis=1), 1.0, atol=1e-6)
    report_dir = tmp_path / "report"
    assert run("evaluate", model, labelled, "-o", report_dir) == 0
    report = json.loads((report_dir / "report.json").read_text())
    assert 0.0 <= report["accuracy"] <= 1.0 and report["n"] == 12
    assert {"neg", "pos"} <= set(report["per_class"])
    worst = pd.read_csv(report_dir / "worst_and_best_examples.csv")
    assert len(worst) > 0 and "loss" in worst.columns
    assert (report_dir / "confusion_matrix.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "make_input, extra, message",
    [
        (lambda d: d / "missing.csv", [], "no such file"),
        (lambda d: _write(d / "x.csv", "review,label\nok,a\n"), ["--text-column", "text"], "no text column 'text'"),
        (lambda d: _write(d / "x.xlsx", "junk"), [], "unknown format .xlsx"),
        (lambda d: _write(d / "x.csv", "review,label\n"), [], "the data set is empty"),
        (lambda d: _write(d / "x.csv", "review,label\nok,a\nfine,a\n"), [], "single class"),
        (lambda d: _write(d / "x.parquet", "not parquet"), [], "cannot read it as parquet"),
    ],
)
def test_helpful_errors_and_exit_code_2(tiny_bert, tmp_path, capsys, make_input, extra, message):
    code = run("train", make_input(tmp_path), "-o", tmp_path / "m", "--model", tiny_bert, *extra)
    assert code == 2
    assert message in capsys.readouterr().err


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_predict_with_a_folder_that_is_not_a_model(tmp_path, labelled, capsys):
    assert run("predict", tmp_path, labelled, "-o", tmp_path / "p.csv") == 2
    assert "not a bertfeat model folder" in capsys.readouterr().err


def test_help_for_every_command():
    for command in ("demo", "embed", "train", "predict", "evaluate"):
        result = subprocess.run([sys.executable, "-m", "bertfeat", command, "--help"], capture_output=True, text=True,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
        assert result.returncode == 0 and "usage: bertfeat " + command in result.stdout


def test_demo_runs_end_to_end(tiny_bert, tmp_path, capsys):
    out = tmp_path / "demo"
    assert run("demo", "-o", out, "--model", tiny_bert, "--folds", "3") == 0
    printed = capsys.readouterr().out
    assert "3-fold cross-validated accuracy" in printed
    report = json.loads((out / "report.json").read_text())
    assert 0.0 <= report["cross_validation"]["accuracy_mean"] <= 1.0
    for picture in ("confusion_matrix.png", "umap_panels.png"):
        assert (out / picture).stat().st_size > 1000
