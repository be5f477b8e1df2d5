"""The speed benchmark runs end to end (tiny corpus, one round): it must not rot unseen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_speed_benchmark_writes_its_section(tmp_path):
    corpus = tmp_path / "texts.txt"
    corpus.write_text("\n".join(f"text number {i} about the weather and a train" for i in range(12)), encoding="utf-8")
    report = tmp_path / "BENCH.md"
    report.write_text("# bench\n", encoding="utf-8")
    cmd = [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--texts", str(corpus), "--n", "12", "--rounds", "1",
           "--contenders", "bertvec-cold,bertvec-fast", "--fast-mode", "int8", "--write", str(report)]
    scratch = tmp_path / "tmp"  # its own TMPDIR: what the benchmark leaves behind shows here, not in a shared /tmp
    scratch.mkdir()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=dict(os.environ, TMPDIR=str(scratch)))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    # bertfeat's own temporary folders (bertfeat-speed-*, bertfeat-bench-cache-*); torch keeps its compile cache there
    assert sorted(p.name for p in scratch.iterdir() if p.name.startswith("bertfeat")) == [], "temporary folders left behind"
    text = report.read_text(encoding="utf-8")
    assert "<!-- BEGIN speed -->" in text and "`bertvec-cold`" in text and "FAILED" not in out.stdout
    assert "fast mode vs BertVectorizer cold" in text
    assert "lowest cosine to a direct fp32 forward pass) | 1.0000" in text  # the default path is exact


def test_cache_benchmark_runs_both_stores_and_cleans_up(tmp_path):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "cache.py"), "--sizes", "300", "--rounds", "1", "--lookups", "50",
           "--bulk", "300", "--dim", "8", "--folder", str(tmp_path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "| new | 300 | 1 |" in out.stdout
    assert "| old | 300 | 1 |" in out.stdout or "measuring the new store only" in out.stdout
    assert list(tmp_path.iterdir()) == []  # every cache folder deleted


def test_cache_design_comparison_runs_and_cleans_up(tmp_path):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "cache_designs.py"), "--n", "500", "--bulk", "200", "--folder", str(tmp_path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "blobs {" in out.stdout and "index+files {" in out.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # loads the real MiniLM and encodes real tweets: ~2 min on a loaded 2-core machine
def test_few_labels_benchmark_resumes_and_writes_its_section(tmp_path, shared_data):
    results, report = tmp_path / "rows.jsonl", tmp_path / "BENCH.md"
    report.write_text("# bench\n", encoding="utf-8")
    cmd = [sys.executable, str(ROOT / "benchmarks" / "few_labels.py"), "--data", str(shared_data), "--parts", "emotion",
           "--sizes", "2", "--splits", "2", "--methods", "probe", "--valid-rows", "30", "--results", str(results),
           "--write", str(report)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert len(results.read_text(encoding="utf-8").splitlines()) == 2  # one row per split
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)  # nothing left to measure
    assert again.returncode == 0 and len(results.read_text(encoding="utf-8").splitlines()) == 2
    text = report.read_text(encoding="utf-8")
    assert "<!-- BEGIN few_labels -->" in text and "| 2 | probe | 2 |" in text
def test_encode_proxy_benchmark_writes_its_section(tmp_path):
    report = tmp_path / "BENCH.md"
    report.write_text("# bench\n", encoding="utf-8")
    cmd = [sys.executable, str(ROOT / "benchmarks" / "encode_proxy.py"), "--n", "200", "--rounds", "1", "--no-minilm",
           "--write", str(report)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    text = report.read_text(encoding="utf-8")
    assert "<!-- BEGIN encode -->" in text and "rust encode_batch (reference)" in text and "BertVectorizer.transform" in text


@pytest.mark.slow
def test_gpu_script_runs_its_issue12_stages_on_the_cpu(tmp_path):
    """The GPU script is run rarely, on a lent machine: its stages are checked here on the CPU."""
    from conftest import data_dir

    if data_dir() is None:
        pytest.skip("shared data folder absent (set BERTFEAT_DATA)")
    cmd = [sys.executable, str(ROOT / "benchmarks" / "gpu_speed.py"), "--issue12", "--device", "cpu", "--small",
           "--rounds", "1", "--data", str(data_dir()), "--write", str(tmp_path / "BENCH.md")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=dict(os.environ, PYTHONPATH=str(ROOT), OUT=str(tmp_path)))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    text = (tmp_path / "BENCH.md").read_text(encoding="utf-8")
    assert "<!-- BEGIN gpu-encode -->" in text and "predict_proba" in text and "bound:" in text
    assert (tmp_path / "issue12_results.jsonl").read_text().count("\n") >= 8
