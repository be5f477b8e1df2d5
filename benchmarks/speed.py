"""Speed, memory and fidelity of BertVectorizer against the usual ways to embed texts.

    python benchmarks/speed.py [--data DIR | --texts FILE] [--n 2000] [--rounds 3] [--write BENCHMARKS.md]
                               [--contenders a,b,...] [--fast-mode int8] [--memory [--memory-n 100000]]

Every contender runs in a fresh subprocess per round (honest peak RSS, no state
shared), and the rounds are interleaved: round 1 runs every contender once, then
round 2 (in a rotated order), and so on, so that the load of a shared machine falls
on all of them alike. Each worker loads its model, warms up on 64 other texts, then
times one call on the corpus. A GEMM worker measures the machine's fp32 matmul speed
on the encoder's shapes in every round, so the share of the bound is measured in the
same run. Fidelity is the cosine of each contender's mean-pooled vectors to a direct
fp32 forward pass of each text alone.

``--memory`` adds the memory test: peak RSS of ``BertVectorizer().transform`` on
``--memory-n`` texts against 2,000 (target <= 1.5x); it is long (minutes).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _bench as B

PEERS = ["tutorial", "hf-pipeline", "st-encode", "embetter", "skrub"]
OURS = ["sorted-loop", "bertvec-cold", "bertvec-warm", "bertvec-fast"]
LABELS = {
    "tutorial": "tutorial way (pad whole set to longest, batches of 32, no_grad)",
    "hf-pipeline": 'transformers pipeline("feature-extraction"), defaults',
    "st-encode": "sentence-transformers encode (batch 32)",
    "embetter": "embetter SentenceEncoder",
    "skrub": "skrub TextEncoder (n_components=None)",
    "sorted-loop": "minimal sorted-batch loop, fp32 (benchmarks/_bench.py)",
    "bertvec-cold": "BertVectorizer, cold (no cache)",
    "bertvec-warm": "BertVectorizer, warm disk cache",
    "bertvec-fast": "BertVectorizer + fast mode",
}


# =========================================================================== workers
# Each runs in its own process: python speed.py --worker NAME --corpus F --out F


def _warmup_texts() -> list[str]:
    return B.generated_texts(64, seed=12345)


def _mean_tokens(hidden_rows) -> np.ndarray:
    return np.asarray([np.asarray(h, dtype=np.float32).reshape(-1, np.shape(h)[-1]).mean(0) for h in hidden_rows])


def worker_tutorial(texts, path, opts):
    import torch

    tok, model = B.load_hf(path)

    def run(items):
        enc = tok(items, padding=True, truncation=True, return_tensors="pt")  # the whole set, to its longest
        out = []
        with torch.no_grad():
            for i in range(0, len(items), 32):
                batch = {k: v[i : i + 32] for k, v in enc.items()}
                hidden = model(**batch).last_hidden_state
                out.append(B.mean_pool(hidden, batch["attention_mask"]))
        return torch.cat(out).numpy()

    return run


def worker_hf_pipeline(texts, path, opts):
    import transformers
    from transformers import pipeline

    transformers.logging.set_verbosity_error()
    pipe = pipeline("feature-extraction", model=path, tokenizer=path, device="cpu")
    return lambda items: _mean_tokens([row[0] for row in pipe(items)])


def worker_st_encode(texts, path, opts):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path, device="cpu")
    return lambda items: model.encode(items, batch_size=32, convert_to_numpy=True, show_progress_bar=False)


def worker_embetter(texts, path, opts):
    import torch
    from embetter.text import SentenceEncoder

    enc = SentenceEncoder(path, device=torch.device("cpu"))
    return lambda items: np.asarray(enc.transform(items))


def worker_skrub(texts, path, opts):
    import pandas as pd
    from skrub import TextEncoder

    enc = TextEncoder(model_name=path, n_components=None, device="cpu")
    enc.fit_transform(pd.Series(_warmup_texts(), name="text"))
    return lambda items: enc.transform(pd.Series(items, name="text")).to_numpy(dtype=np.float32)


def worker_sorted_loop(texts, path, opts):
    tok, model = B.load_hf(path)
    return lambda items: B.encode_sorted(model, tok, items, 32, 4096)


def _vectorizer(**kwargs):
    from bertfeat import BertVectorizer

    return BertVectorizer(progress=False, **kwargs)


def worker_bertvec_cold(texts, path, opts):
    vec = _vectorizer().fit(_warmup_texts())
    return vec.transform


def worker_bertvec_warm(texts, path, opts):
    cache = tempfile.mkdtemp(prefix="bertfeat-bench-cache-")
    atexit.register(shutil.rmtree, cache, True)  # the worker leaves nothing behind
    _vectorizer(cache_dir=cache).fit(texts[:1]).transform(texts)  # fills the cache (untimed)
    vec = _vectorizer(cache_dir=cache).fit(_warmup_texts())  # a new estimator: only the disk cache is warm
    return vec.transform


def fast_vectorizer(mode: str):
    """BertVectorizer(fast_mode=mode), fitted; and how the mode was switched on."""
    from bertfeat import BertVectorizer

    return BertVectorizer(progress=False, fast_mode=mode).fit(_warmup_texts()), f"`BertVectorizer(fast_mode={mode!r})`"


def worker_bertvec_fast(texts, path, opts):
    vec, how = fast_vectorizer(opts["fast_mode"])
    opts["how"] = how
    return vec.transform


def worker_gemm(texts, path, opts):
    tok, model = B.load_hf(path)
    opts["gemm"] = B.gemm_bound(model)


def worker_reference(texts, path, opts):
    tok, model = B.load_hf(path)
    return lambda items: B.reference_vectors(model, tok, items)


def worker_memory(texts, path, opts):
    vec = _vectorizer().fit(_warmup_texts())
    return vec.transform


WORKERS = {name: globals()["worker_" + name.replace("-", "_")] for name in PEERS + OURS + ["gemm", "reference", "memory"]}


def run_worker(name: str, corpus: str, out: str, opts: dict) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    texts = json.loads(Path(corpus).read_text(encoding="utf-8"))
    path = B.model_path()
    t0 = time.perf_counter()
    fn = WORKERS[name](texts, path, opts)
    setup_s = time.perf_counter() - t0
    result = {"name": name, "setup_s": setup_s}
    if fn is not None:
        if name not in ("reference", "memory"):
            fn(_warmup_texts())
        rss_before = B.rss_mb()
        cpu0, t0 = time.process_time(), time.perf_counter()
        vectors = np.asarray(fn(texts), dtype=np.float32)
        seconds = time.perf_counter() - t0
        result.update(seconds=seconds, cpu_s=time.process_time() - cpu0, rss_before_mb=rss_before,
                      rows=int(vectors.shape[0]), dim=int(vectors.shape[1]))
        if name != "memory":
            np.save(out + ".npy", vectors)
    result["peak_rss_mb"] = B.peak_rss_mb()
    result.update({k: v for k, v in opts.items() if k in ("gemm", "how")})
    Path(out).write_text(json.dumps(result), encoding="utf-8")


# =========================================================================== parent


def spawn(name: str, corpus: Path, workdir: Path, tag: str, opts: dict, timeout: float) -> dict:
    out = workdir / f"{name}-{tag}.json"
    cmd = [sys.executable, str(HERE / "speed.py"), "--worker", name, "--corpus", str(corpus), "--out", str(out),
           "--worker-opts", json.dumps(opts)]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONWARNINGS="ignore")
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0 or not out.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"name": name, "error": " | ".join(tail) or f"exit {proc.returncode}"}
    result = json.loads(out.read_text(encoding="utf-8"))
    result["wall_s"] = time.perf_counter() - started
    if (workdir / f"{name}-{tag}.json.npy").exists():
        result["vectors"] = str(workdir / f"{name}-{tag}.json.npy")
    return result


def available(name: str) -> str | None:
    """Why a contender cannot run here, or None."""
    import importlib.util

    needs = {"st-encode": "sentence_transformers", "embetter": "embetter", "skrub": "skrub",
             "hf-pipeline": "transformers"}
    mod = needs.get(name)
    if mod and importlib.util.find_spec(mod) is None:
        return f"{mod} is not installed"
    if name == "skrub" and importlib.util.find_spec("pandas") is None:
        return "pandas is not installed"
    if name.startswith("bertvec"):
        try:
            from bertfeat import BertVectorizer  # noqa: F401
        except Exception as exc:  # noqa: BLE001
            return f"bertfeat.BertVectorizer unavailable ({exc})"
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="shared data folder holding emotion/ (default: BERTFEAT_DATA)")
    parser.add_argument("--n", type=int, default=2000, help="texts in the corpus")
    parser.add_argument("--texts", default=None,
                        help="your own corpus: a UTF-8 text file, one text per line (its first --n lines)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--contenders", default=",".join(PEERS + OURS))
    parser.add_argument("--fast-mode", default="int8", help="prepare_fast mode for bertvec-fast")
    parser.add_argument("--write", default=None, help="write the tables into this markdown file")
    parser.add_argument("--memory", action="store_true", help="also run the memory test (long)")
    parser.add_argument("--memory-n", type=int, default=100_000)
    parser.add_argument("--memory-only", action="store_true", help="run only the memory test")
    parser.add_argument("--long-tail", type=float, default=0.01,
                        help="fraction of texts replaced by 3-6 tweets joined (0 for tweets only)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per worker")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--worker-opts", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        run_worker(args.worker, args.corpus, args.out, json.loads(args.worker_opts))
        return 0

    folder = B.data_dir(args.data)
    if folder is None and not args.texts:
        print("emotion data not found (pass --data DIR or set BERTFEAT_DATA): using a generated corpus")
    if args.texts:
        lines = [line.strip() for line in Path(args.texts).read_text(encoding="utf-8").splitlines()]
        texts = [line for line in lines if line][: args.n]
        source = f"{args.texts} (first {len(texts)} non-empty lines)"
    else:
        texts, source = B.tweet_corpus(args.n, folder, long_tail=args.long_tail)
    workdir = Path(tempfile.mkdtemp(prefix="bertfeat-speed-"))
    atexit.register(shutil.rmtree, workdir, True)  # corpus, worker outputs and vectors: gone at exit
    corpus = workdir / "corpus.json"
    corpus.write_text(json.dumps(texts), encoding="utf-8")
    opts = {"fast_mode": args.fast_mode}
    if args.memory_only:
        md = "\n".join(memory_test(args, folder, workdir, opts))
        print(md)
        if args.write:
            B.write_section(args.write, "memory", md)
            print(f"written to {args.write}")
        return 0

    contenders, skipped = [], {}
    for name in [c for c in args.contenders.split(",") if c]:
        why = available(name)
        if why:
            skipped[name] = why
            print(f"skip {name}: {why}")
        else:
            contenders.append(name)

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(B.model_path())
    n_tokens = np.asarray([len(ids) for ids in tok(texts, truncation=True, max_length=512)["input_ids"]])
    print(f"machine: {B.machine()}")
    print(f"corpus: {source}; {len(texts)} texts, tokens mean {n_tokens.mean():.1f}, max {n_tokens.max()}")
    load_before = B.load_average()
    print(f"load average: {load_before}", flush=True)

    results = {name: [] for name in contenders + ["gemm"]}
    for r in range(args.rounds):
        k = r % len(contenders)
        order = contenders[k:] + contenders[:k]
        order.insert(r % (len(order) + 1), "gemm")
        for name in order:
            res = spawn(name, corpus, workdir, f"r{r}", opts, args.timeout)
            results[name].append(res)
            if "error" in res:
                print(f"round {r + 1} {name}: FAILED {res['error']}", flush=True)
            elif name == "gemm":
                print(f"round {r + 1} gemm: {res['gemm']['gflops']:.1f} GFLOP/s fp32", flush=True)
            else:
                print(f"round {r + 1} {name}: {len(texts) / res['seconds']:,.1f} texts/s, "
                      f"peak RSS {res['peak_rss_mb']:.0f} MB", flush=True)
    load_after = B.load_average()
    ref = spawn("reference", corpus, workdir, "ref", opts, args.timeout)
    ref_vectors = np.load(ref["vectors"])

    # ---------------------------------------------------------------- summary
    from transformers import AutoModel

    from bertfeat._fast import cpu_flags  # noqa: F401  (import check only)

    model = AutoModel.from_pretrained(B.model_path())
    flops = B.flops_per_text(model, n_tokens)
    flops_per_text = float(flops.mean())
    gflops = [res["gemm"]["gflops"] for res in results.pop("gemm") if "gemm" in res]
    gemm_med = float(np.median(gflops))
    bound_tps = gemm_med * 1e9 / flops_per_text

    ok = {n: [res for res in results[n] if "error" not in res] for n in contenders}
    failed = {n: results[n][0]["error"] for n in contenders if not ok[n]}
    alive = [n for n in contenders if ok[n]]
    rates = {n: [len(texts) / res["seconds"] for res in ok[n]] for n in alive}

    def per_round_ratio(a: str, b: str) -> list[float]:
        pairs = [(x, y) for x, y in zip(results[a], results[b]) if "error" not in x and "error" not in y]
        return [y["seconds"] / x["seconds"] for x, y in pairs]

    fidelity = {}
    for n in alive:
        vec = np.load(ok[n][-1]["vectors"])
        c = B.cosines(ref_vectors, vec)
        fidelity[n] = (float(c.mean()), float(c.min()))

    main_rows = []
    for n in alive:
        med = float(np.median(rates[n]))
        peak = float(np.median([res["peak_rss_mb"] for res in ok[n]]))
        before = float(np.median([res["rss_before_mb"] for res in ok[n]]))
        main_rows.append([
            f"`{n}`", LABELS[n], B.fmt_rate(rates[n]), f"{peak:,.0f}", f"{before:,.0f}",
            f"{100 * med / bound_tps:.1f}%", f"{fidelity[n][0]:.6f} / {fidelity[n][1]:.6f}",
        ])
    main_table = B.md_table(
        ["contender", "what", "texts/s median (range)", "peak RSS MB", "RSS before the timed call MB",
         "share of fp32 GEMM bound", "cosine to fp32 (mean / min)"], main_rows)

    peers = [p for p in PEERS if p in alive]
    ours = [o for o in alive if o not in PEERS]
    ratio_rows = []
    for o in ours:
        row = [f"`{o}`"]
        for p in peers:
            rr = per_round_ratio(o, p)
            row.append(f"{np.median(rr):.2f}x ({min(rr):.2f}-{max(rr):.2f})" if rr else "-")
        ratio_rows.append(row)
    ratio_table = B.md_table(["per-round ratio, median (range)"] + [f"vs `{p}`" for p in peers], ratio_rows)

    targets = []

    def target(label, a, b, goal):
        if a in alive and b in alive:
            rr = per_round_ratio(a, b)
            med = float(np.median(rr))
            targets.append([label, f"{med:.2f}x (rounds: {', '.join(f'{x:.2f}' for x in rr)})", f">= {goal}x",
                            "met" if med >= goal else "NOT met"])

    target("BertVectorizer cold vs sentence-transformers encode", "bertvec-cold", "st-encode", 1.2)
    target("BertVectorizer cold vs the tutorial way", "bertvec-cold", "tutorial", 8)
    target("BertVectorizer warm cache vs cold", "bertvec-warm", "bertvec-cold", 100)
    target("fast mode vs BertVectorizer cold", "bertvec-fast", "bertvec-cold", 1.3)
    if "bertvec-cold" in fidelity:
        low = fidelity["bertvec-cold"][1]
        targets.append(["BertVectorizer cold: identical vectors (lowest cosine to a direct fp32 forward pass)",
                        f"{low:.7f}", ">= 0.99999", "met" if low >= 0.99999 else "NOT met"])
    target_table = B.md_table(["target", "measured", "goal", ""], targets) if targets else ""

    how = next((res.get("how") for res in ok.get("bertvec-fast", []) if res.get("how")), None)
    gemm_runs = "; ".join(f"{x:.0f}" for x in gflops)
    lines = [
        "## Speed: BertVectorizer against the usual ways\n",
        f"Command: `{B.command_line()}`\n",
        f"Machine: {B.machine()}. Load average (1/5/15 min) {load_before} before, {load_after} after: the machine "
        "is shared, so the ratios below are taken round by round (each round runs every contender once, "
        "order rotated, each in a fresh process) and the medians are what to read.\n",
        f"Corpus: {source}; {len(texts)} texts, {n_tokens.mean():.1f} tokens on average (special tokens included), "
        f"longest {n_tokens.max()}. {args.rounds} rounds. Each worker loads its model, warms up on 64 other texts, "
        "then times one call on the whole corpus (model loading not timed).\n",
        f"fp32 matmul bound: torch `F.linear` on the encoder's shapes (rows = batch x length in 256/768/2048, "
        f"in the layer's mix of 384x384, 384x1536, 1536x384), best shape per round: {gemm_runs} GFLOP/s, "
        f"median {gemm_med:.0f}. Useful work per text: 2 x {B.matmul_params(model) / 1e6:.2f} M matmul parameters "
        f"per token + 4 x L x n x hidden per token for attention = {flops_per_text / 1e6:.0f} MFLOP per text "
        f"on average (unpadded), so the bound is {bound_tps:,.0f} texts/s.\n",
        main_table + "\n",
        "Ratios to each peer, measured in the same round:\n",
        ratio_table + "\n",
    ]
    if target_table:
        lines += ["Targets of issue 6 (reported, not asserted):\n", target_table + "\n"]
    if how:
        lines.append(f"Fast mode here: {how}.\n")
    for n, why in {**skipped, **failed}.items():
        lines.append(f"- `{n}` did not run: {why}")
    lines.append("")

    if args.memory:
        lines += memory_test(args, folder, workdir, opts)

    md = "\n".join(lines)
    print()
    print(md)
    if args.write:
        B.write_section(args.write, "speed", md.split("## Memory")[0] if args.memory else md)
        if args.memory:
            B.write_section(args.write, "memory", "## Memory" + md.split("## Memory", 1)[1])
        print(f"written to {args.write}")
    return 0


def memory_test(args, folder, workdir: Path, opts: dict) -> list[str]:
    """Peak RSS of BertVectorizer().transform on 2,000 and on --memory-n texts."""
    small, _ = B.distinct_tweets(2000, folder)
    big, source = B.distinct_tweets(args.memory_n, folder)
    rows = []
    res = {}
    for label, items in (("2000", small), (str(args.memory_n), big)):
        path = workdir / f"corpus-memory-{label}.json"
        path.write_text(json.dumps(items), encoding="utf-8")
        print(f"memory test: {label} texts ...", flush=True)
        res[label] = spawn("memory", path, workdir, label, opts, args.timeout)
        r = res[label]
        if "error" in r:
            rows.append([label, "failed", r["error"], "", ""])
            continue
        rows.append([f"{int(label):,}", f"{r['peak_rss_mb']:,.0f}", f"{r['rss_before_mb']:,.0f}",
                     f"{r['seconds']:.0f}", f"{r['rows'] / r['seconds']:,.0f}"])
    ratio = ""
    if all("error" not in r for r in res.values()):
        value = res[str(args.memory_n)]["peak_rss_mb"] / res["2000"]["peak_rss_mb"]
        ratio = (f"Peak RSS ratio {args.memory_n:,} / 2,000 texts: **{value:.2f}x** (target <= 1.5x: "
                 f"{'met' if value <= 1.5 else 'NOT met'}). The output alone is {args.memory_n} x 384 float32 = "
                 f"{args.memory_n * 384 * 4 / 2**20:.0f} MB.")
    return [
        "## Memory: BertVectorizer.transform on many texts\n",
        f"Command: `{B.command_line()}`\n",
        f"Each size in a fresh process: `BertVectorizer().fit(...).transform(texts)`, no cache; peak RSS is the "
        f"process's ru_maxrss (model load included). Corpus: {source}.\n",
        B.md_table(["texts", "peak RSS MB", "RSS before transform MB", "seconds", "texts/s"], rows) + "\n",
        ratio + "\n",
    ]


if __name__ == "__main__":
    sys.exit(main())
