"""Encode pipeline on the CPU (issue 12): BertVectorizer against its own tokenizer's speed.

    python benchmarks/encode_proxy.py [--data DIR] [--rounds 5] [--baseline DIR]
                                      [--minilm-n 2000] [--no-minilm] [--write BENCHMARKS.md]

Proxy: a tiny random BERT (hidden 32, 2 layers, MiniLM's real vocabulary), whose
forward pass is cheap, on the 16,000 emotion training tweets. Side by side, in rotating
order every round: the tokenizers library's Rust ``encode_batch`` alone (a private copy
of the backend, truncation at 512, no padding, ids read into numpy: the issue's
reference), the same with ``encode_batch_fast``, BertVectorizer's forward pass alone on
pre-tokenized chunks, and ``BertVectorizer.transform`` end to end (default settings, no
cache). ``--baseline DIR`` adds BertVectorizer from another checkout (e.g. main) in a
worker process, timed inside the worker in the same rounds. Wall-clock and CPU time
(process time, all threads) are printed per contender, with the load average.

MiniLM fp32 (``--minilm-n`` tweets): lowest cosine to a direct fp32 forward pass of each
text alone, and texts/s against sentence-transformers ``encode`` (batch 32) in the same
rounds, where it is installed.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _bench as B

BASELINE_WORKER = textwrap.dedent(
    """
    import sys, time, json
    sys.path.insert(0, sys.argv[1])
    from bertfeat import BertVectorizer
    texts = json.load(open(sys.argv[3], encoding="utf-8"))
    vec = BertVectorizer(model=sys.argv[2], progress=False).fit(texts[:2])
    vec.transform(texts[:500])
    print("ready", flush=True)
    for line in sys.stdin:
        wall, cpu = time.perf_counter(), time.process_time()
        vec.transform(texts)
        print(time.perf_counter() - wall, time.process_time() - cpu, flush=True)
    """
)


def tiny_model(folder: Path) -> Path:
    """The tests' tiny random BERT (tests/conftest.py: hidden 32, 2 layers, seed 0)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(B.model_path())
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=512, type_vocab_size=2)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def rust_reference(folder: Path, fast: bool):
    """``fn(texts)``: the backend's batch encoder on a private copy, ids into numpy."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    rust = Tokenizer.from_str(AutoTokenizer.from_pretrained(str(folder)).backend_tokenizer.to_str())
    rust.no_padding()
    rust.enable_truncation(512)
    encode = rust.encode_batch_fast if fast else rust.encode_batch

    def run(texts):
        rows = [e.ids for e in encode(texts)]
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        return np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=int(lengths.sum())), lengths

    return run


def forward_only(vec, texts):
    """``fn()``: BertVectorizer's forward pass and pooling on chunks tokenized beforehand."""
    import bertfeat._encode as encode
    from bertfeat._pipeline import chunk_bounds

    loaded, opts = vec._encoder(), vec._options
    bounds = chunk_bounds(len(texts), encode.stream_chunk(loaded.device))
    chunks = [(e - s, encode.tokenize_chunk(loaded, texts[s:e], False, opts)) for s, e in bounds]
    return lambda: [encode._finish(encode._launch(loaded, tokenized, n, opts)) for n, tokenized in chunks]


class Baseline:
    """BertVectorizer from another checkout, in a worker process, timed inside it."""

    def __init__(self, checkout: str, model: Path, texts: list[str], scratch: Path):
        import json

        corpus = scratch / "texts.json"
        corpus.write_text(json.dumps(texts), encoding="utf-8")
        env = dict(os.environ, PYTHONPATH=checkout)
        self.proc = subprocess.Popen([sys.executable, "-c", BASELINE_WORKER, checkout, str(model), str(corpus)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the baseline worker from {checkout} did not start")

    def run(self) -> tuple[float, float]:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        wall, cpu = map(float, self.proc.stdout.readline().split())
        return wall, cpu

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def proxy(args, texts, source, scratch) -> tuple[str, dict]:
    from bertfeat import BertVectorizer

    model = tiny_model(scratch / "tiny-bert")
    vec = BertVectorizer(model=str(model), progress=False).fit(texts[:2])
    vec.transform(texts[:500])  # warm-up: model, tokenizer copy, kernels
    ref, ref_fast = rust_reference(model, False), rust_reference(model, True)
    contenders = {
        "rust encode_batch (reference)": lambda: ref(texts),
        "rust encode_batch_fast": lambda: ref_fast(texts),
        "BertVectorizer forward only (pre-tokenized)": forward_only(vec, texts),
        "BertVectorizer.transform": lambda: vec.transform(texts),
    }
    baseline = Baseline(args.baseline, model, texts, scratch) if args.baseline else None
    names = list(contenders) + (["BertVectorizer.transform, baseline"] if baseline else [])
    walls, cpus, loads = {n: [] for n in names}, {n: [] for n in names}, []
    for r in range(args.rounds):
        loads.append(B.load_average())
        k = r % len(names)
        for name in names[k:] + names[:k]:
            wall, cpu = baseline.run() if name.endswith("baseline") else timed(contenders[name])
            walls[name].append(wall)
            cpus[name].append(cpu)
        print(f"round {r + 1}: " + ", ".join(f"{n.split(' (')[0]} {len(texts) / walls[n][-1]:,.0f}/s" for n in names)
              + f"; load {loads[-1]}", flush=True)
    if baseline:
        baseline.close()
    reference = "rust encode_batch (reference)"
    ratios = {n: [walls[reference][i] / walls[n][i] for i in range(args.rounds)] for n in names}
    rows = []
    for n in names:
        rates = [len(texts) / w for w in walls[n]]
        rows.append([n, B.fmt_rate(rates), f"{statistics.median(ratios[n]):.2f}x ("
                     + ", ".join(f"{x:.2f}" for x in ratios[n]) + ")",
                     f"{statistics.median(cpus[n]):.2f}", f"{statistics.median(cpus[reference]) / statistics.median(cpus[n]):.2f}x"])
    opts = vec._options
    md = [f"Proxy: tiny random BERT (hidden 32, 2 layers, 2 heads, MiniLM's vocabulary); {source}. "
          f"BertVectorizer defaults chosen for it on this CPU: batch_size {opts.batch_size}, token_budget "
          f"{opts.token_budget}. {args.rounds} rounds, rotating order; load average before each round: "
          + "; ".join(loads) + ".", "",
          B.md_table(["contender", "texts/s median (range)", "x rust encode_batch, per round (wall)",
                      "CPU s median", "x rust encode_batch (CPU time)"], rows)]
    return "\n".join(md), {"ratio": statistics.median(ratios["BertVectorizer.transform"])}


def minilm(args, texts) -> str:
    import torch

    from bertfeat import BertVectorizer

    texts = texts[: args.minilm_n]
    path = B.model_path()
    tok, model = B.load_hf(path)
    vec = BertVectorizer(progress=False).fit(texts[:2])
    got = vec.transform(texts)
    n_ref = min(len(texts), 500)
    cos = B.cosines(got[:n_ref], B.reference_vectors(model, tok, texts[:n_ref]))
    lines = [f"MiniLM fp32 (embedded all-MiniLM-L6-v2), {len(texts)} tweets: lowest cosine to a direct fp32 forward "
             f"pass of each text alone (first {n_ref}): **{cos.min():.7f}** (target >= 0.99999)."]
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        lines.append("sentence-transformers is not installed: the speed comparison is skipped "
                     "(`pip install -e \".[bench]\"`).")
        return "\n\n".join(lines)
    st = SentenceTransformer(path, device="cpu")
    st.encode(texts[:64], batch_size=32)
    runs = {"BertVectorizer": lambda: vec.transform(texts),
            "sentence-transformers encode (batch 32)": lambda: st.encode(texts, batch_size=32, convert_to_numpy=True)}
    walls, loads = {n: [] for n in runs}, []
    for r in range(args.minilm_rounds):
        loads.append(B.load_average())
        names = list(runs)[r % 2:] + list(runs)[: r % 2]
        for name in names:
            walls[name].append(timed(runs[name])[0])
    ratio = [s / b for s, b in zip(walls["sentence-transformers encode (batch 32)"], walls["BertVectorizer"])]
    rows = [[n, B.fmt_rate([len(texts) / w for w in ws])] for n, ws in walls.items()]
    lines.append(B.md_table(["contender", "texts/s median (range)"], rows))
    lines.append(f"BertVectorizer vs sentence-transformers per round: **{statistics.median(ratio):.2f}x** ("
                 + ", ".join(f"{x:.2f}" for x in ratio) + f"); torch threads {torch.get_num_threads()}; "
                 "load average before each round: " + "; ".join(loads) + ".")
    return "\n\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--n", type=int, default=16000, help="tweets for the proxy (default: all of emotion train)")
    p.add_argument("--baseline", default=None, help="another checkout's root, e.g. /work/main")
    p.add_argument("--minilm-n", type=int, default=2000)
    p.add_argument("--minilm-rounds", type=int, default=3)
    p.add_argument("--no-minilm", action="store_true")
    p.add_argument("--write", default=None)
    args = p.parse_args()
    folder = B.data_dir(args.data)
    if folder is None:
        texts, source = B.generated_texts(args.n), f"{args.n} generated texts (emotion data absent)"
    else:
        texts = B.read_emotion(folder, "train")[0][: args.n]
        source = f"the first {len(texts)} emotion training tweets"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bertfeat-encode-proxy-") as scratch:
        table, result = proxy(args, texts, source, Path(scratch))
    parts = ["## Encode pipeline (issue 12)", "", f"Command: `{B.command_line()}`", "", f"Machine: {B.machine()}.", "",
             "### CPU proxy: tiny model vs its own tokenizer", "", table, "",
             f"BertVectorizer end to end: **{result['ratio']:.2f}x** the Rust `encode_batch` rate (median of rounds; "
             "target >= 0.8x)."]
    if not args.no_minilm:
        parts += ["", "### MiniLM fp32", "", minilm(args, texts)]
    parts += ["", f"Whole run: {time.perf_counter() - started:.0f} s."]
    markdown = "\n".join(parts)
    print(markdown)
    if args.write:
        B.write_section(args.write, "encode", markdown)
        print(f"written to {args.write}")


if __name__ == "__main__":
    main()
