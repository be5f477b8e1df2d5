"""Opt-in faster CPU mode study: speed, fidelity and downstream accuracy of each mode.

    python benchmarks/fastmode.py [--data DIR] [--n 2000] [--rounds 3] [--write BENCHMARKS.md]
                                  [--modes fp32,int8-stock,int8,bf16] [--no-accuracy]

Speed: the same minimal sorted-batch loop (batches of 32, token budget 4096,
inference_mode, mean pooling) with each mode's encoder from ``bertfeat._fast``,
timed side by side in rotating turns on ``--n`` emotion tweets. Fidelity: cosine of
mean-pooled vectors to a direct fp32 forward pass of each text alone. Accuracy:
LogisticRegression(max_iter=1000) on mean-pooled vectors, emotion train (16,000) ->
validation (2,000). The bar: >= 1.3x fp32 and accuracy within 1 point of fp32.

The ONNX Runtime modes measured in the first study ("onnx", "onnx-int8") were removed from
the package (never the fastest mode on a measured CPU); BENCHMARKS.md keeps their numbers.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _bench as B

MODES = {
    "fp32": "torch fp32 (the default path)",
    "int8-stock": "torch quantize_dynamic as documented (per-tensor, 7-bit activations)",
    "int8": "prepare_fast(model, 'int8'): per-channel, 8-bit activations on VNNI",
    "bf16": "prepare_fast(model, 'bf16'): bf16 weights and activations",
}


def build(mode: str, model):
    from bertfeat._fast.int8 import quantize_int8
    from bertfeat._fast.prepare import prepare_fast

    if mode == "fp32":
        return model
    if mode == "int8-stock":
        return quantize_int8(model, full_range=False, per_channel=False)
    return prepare_fast(model, mode)


def accuracy_runs(args, folder, modes, encoders, tok) -> dict:
    """Validation accuracy of LogisticRegression on each mode's mean-pooled emotion features."""
    accuracy = {}
    if folder is None:
        print("accuracy: emotion data absent (pass --data or set BERTFEAT_DATA); skipped")
        return accuracy
    from sklearn.linear_model import LogisticRegression

    train, y_train = B.read_emotion(folder, "train")
    valid, y_valid = B.read_emotion(folder, "validation")
    cache = Path(args.features_cache) if args.features_cache else None
    for m in modes:
        feats = None
        if cache is not None:
            key = hashlib.sha256(("\n".join(train + valid) + m).encode()).hexdigest()[:16]
            fpath = cache / f"emotion-{m}-{key}.npz"
            if fpath.exists():
                with np.load(fpath) as saved:
                    feats = (saved["train"], saved["valid"])
        if feats is None:
            t0 = time.perf_counter()
            feats = (B.encode_sorted(encoders[m], tok, train), B.encode_sorted(encoders[m], tok, valid))
            print(f"{m}: features of {len(train) + len(valid):,} texts in {time.perf_counter() - t0:.0f}s", flush=True)
            if cache is not None:
                cache.mkdir(parents=True, exist_ok=True)
                np.savez(fpath, train=feats[0], valid=feats[1])
        clf = LogisticRegression(max_iter=1000).fit(feats[0], y_train)
        accuracy[m] = float((clf.predict(feats[1]) == y_valid).mean())
        print(f"{m}: validation accuracy {accuracy[m]:.4f}", flush=True)
    return accuracy


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="shared data folder (holds emotion/); default BERTFEAT_DATA")
    parser.add_argument("--n", type=int, default=2000, help="texts for the speed and fidelity runs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--no-accuracy", action="store_true", help="skip the emotion LogisticRegression runs")
    parser.add_argument("--accuracy-only", action="store_true", help="only the emotion runs (fills --features-cache)")
    parser.add_argument("--features-cache", default=None, help="folder to keep train/validation features per mode")
    parser.add_argument("--write", default=None, help="write the table into this markdown file (e.g. BENCHMARKS.md)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    folder = B.data_dir(args.data)
    modes = [m for m in args.modes.split(",") if m]
    from bertfeat._fast import has_native_bf16

    unknown = [m for m in modes if m not in MODES]
    if unknown:
        parser.error(f"--modes: {', '.join(unknown)} not among {', '.join(MODES)} (the ONNX modes were removed)")
    if "bf16" in modes and not has_native_bf16():
        print("bf16: this CPU has no native bf16 (AVX512_BF16/AMX); skipped (it is ~7x slower than fp32 there)")
        modes.remove("bf16")

    tok, model = B.load_hf()
    texts, source = B.tweet_corpus(args.n, folder)
    print(f"machine: {B.machine()}; load average {B.load_average()}")
    print(f"corpus: {source}")
    encoders = {}
    for m in modes:
        t0 = time.perf_counter()
        encoders[m] = build(m, model)
        print(f"prepared {m} in {time.perf_counter() - t0:.1f}s")

    def runner(enc):
        return lambda part: B.encode_sorted(enc, tok, part, 32, 4096)

    if args.accuracy_only:
        accuracy_runs(args, folder, modes, encoders, tok)
        return 0
    ref = B.reference_vectors(model, tok, texts)
    for m in modes:  # warm-up (first calls allocate, pack weights, JIT)
        runner(encoders[m])(texts[:64])
    started_load = B.load_average()
    timing = B.interleaved_rates({m: runner(encoders[m]) for m in modes}, texts, args.rounds, slices=4)
    ended_load = B.load_average()
    fidelity = {}
    for m in modes:
        c = B.cosines(ref, B.encode_sorted(encoders[m], tok, texts, 32, 4096))
        fidelity[m] = (c.mean(), np.percentile(c, 1), c.min())

    accuracy = {} if args.no_accuracy else accuracy_runs(args, folder, modes, encoders, tok)

    rows = []
    for m in modes:
        ratios = B.ratio_of_turns(timing["turns"], m, "fp32") if "fp32" in modes else [float("nan")]
        med, lo, hi = B.summarize(ratios)
        mean_c, p1, min_c = fidelity[m]
        acc = accuracy.get(m)
        delta = None if acc is None or "fp32" not in accuracy else 100 * (acc - accuracy["fp32"])
        meets = ""
        if m != "fp32" and delta is not None:
            meets = "yes" if med >= 1.3 and abs(delta) <= 1.0 else "no"
        rows.append([
            f"`{m}`", MODES[m], B.fmt_rate(timing["rates"][m]), f"{med:.2f}x ({lo:.2f}-{hi:.2f})",
            f"{mean_c:.4f} / {p1:.4f} / {min_c:.4f}",
            "-" if acc is None else f"{100 * acc:.2f}", "-" if delta is None else f"{delta:+.2f}", meets or "-",
        ])
    header = ["mode", "what", "texts/s median (range)", "x fp32 per turn, median (range)",
              "cosine to fp32: mean / 1st pct / min", "emotion val acc %", "delta vs fp32 (points)", "meets bar"]
    table = B.md_table(header, rows)
    print(table)
    md = (
        "## Fast mode (opt-in CPU) study\n\n"
        f"Command: `{B.command_line()}`\n\n"
        f"Machine: {B.machine()}. Load average (1/5/15 min) {started_load} before, {ended_load} after the timing "
        "(the machine is shared: ratios are per turn, side by side).\n\n"
        f"Speed corpus: {source}; {args.rounds} rounds x 4 slices, candidates in rotating order; sorted batches of 32, "
        "token budget 4096. Cosine: mean-pooled vectors against each text run alone in fp32. "
        "Accuracy: LogisticRegression(max_iter=1000) on mean-pooled vectors, emotion train 16,000 -> validation 2,000. "
        "Bar: >= 1.3x fp32 and within 1 accuracy point of fp32.\n\n" + table + "\n"
    )
    if args.write:
        B.write_section(args.write, "fastmode", md)
        print(f"written to {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
