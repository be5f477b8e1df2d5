"""GPU timing: BertVectorizer against sentence-transformers, and issue 12's targets in one run.

    python benchmarks/gpu_speed.py [--model DIR] [--n 20000] [--rounds 3]
    python benchmarks/gpu_speed.py --issue12 [--model DIR] [--data DIR] [--rounds 3] [--sweep] [--write BENCHMARKS.md]

Default mode: BertVectorizer fp32 / fp16 / bf16 against sentence-transformers ``encode``
on a synthetic corpus (vocabulary words, tweet-like lengths), so that it runs where no
data is.

``--issue12``: the targets of issue 12, all from one run on the same texts (emotion
tweets cycled: train + validation + test, then again with a number appended):

* MiniLM on 50,000 tweets with default parameters, tokenization included (target
  >= 100,000 texts/s), beside the bare bound (the same texts tokenized beforehand, sorted,
  1,024 rows / 65,536 tokens per batch, fp16, mean pooling: device work only) and
  tokenization alone (the Hugging Face batch call, Rust ``encode_batch`` into numpy, and
  the path's own tokenizer);
* a bert-base-size random model (12 layers, hidden 768, seed 0) on 20,000 tweets
  (target >= 45,000 texts/s), with its bf16 bound loop;
* fidelity: lowest cosine of bf16 / fp16 vectors to fp32 vectors on the GPU (target
  >= 0.999), and of GPU fp32 to CPU fp32 (first 2,000 texts);
* ``FineTuneClassifier.predict_proba`` throughput through the same path (MiniLM, a head
  trained one epoch on 2,000 tweets);
* ``--sweep``: MiniLM texts/s over GPU batch sizes and token budgets (the defaults'
  evidence).

Prepare the lent machine as ../shared/GPU.md says, then run ``bash benchmarks/gpu_run.sh``
there (weights restored from fp16, results in $OUT). ``--device cpu --small`` checks the
script itself on a CPU with tiny sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _bench as B


def corpus(vocab_file: str, n: int, seed: int = 0) -> list[str]:
    words = [w for w in open(vocab_file, encoding="utf-8").read().split() if w.isalpha() and len(w) > 2]
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(3.0, 0.5, n), 3, 150).astype(int)  # tweet-like: mean ~22 words
    return [" ".join(rng.choice(words, size=k)) for k in lengths]


def cosine(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def legacy(args) -> None:
    """The first GPU comparison (synthetic corpus, fp32/fp16/bf16 vs sentence-transformers)."""
    from bertfeat import BertVectorizer
    from bertfeat._store import default_model_path

    model = args.model or default_model_path()
    texts = corpus(f"{model}/vocab.txt", args.n)
    contenders = {f"BertVectorizer {d}": BertVectorizer(model=model, device="cuda", dtype=d, progress=False).fit(texts[:1])
                  for d in ("float32", "float16", "bfloat16")}
    runs = {name: (lambda est=est: est.transform(texts)) for name, est in contenders.items()}
    try:
        from sentence_transformers import SentenceTransformer

        st32 = SentenceTransformer(model, device="cuda")
        st16 = SentenceTransformer(model, device="cuda").half()
        runs["sentence-transformers encode fp32"] = lambda: st32.encode(texts, batch_size=32, convert_to_numpy=True)
        runs["sentence-transformers encode fp16"] = lambda: st16.encode(texts, batch_size=32, convert_to_numpy=True)
        runs["sentence-transformers encode fp16 batch 256"] = lambda: st16.encode(texts, batch_size=256, convert_to_numpy=True)
    except ImportError:
        print("sentence-transformers not installed: skipped")
    times = {name: [] for name in runs}
    outputs = {name: np.asarray(run(), dtype=np.float32) for name, run in runs.items()}  # warm-up, fidelity
    for _ in range(args.rounds):
        for name, run in runs.items():
            torch.cuda.synchronize()
            started = time.perf_counter()
            run()
            torch.cuda.synchronize()
            times[name].append(time.perf_counter() - started)
    reference = outputs["BertVectorizer float32"]
    st_fp16 = statistics.median(times.get("sentence-transformers encode fp16", [float("nan")]))
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, {len(texts)} texts, {args.rounds} rounds")
    print("| contender | texts/s median | range | vs ST fp16 (batch 32) | min cosine to BertVectorizer fp32 |")
    print("|---|---|---|---|---|")
    for name, ts in times.items():
        rate = [len(texts) / t for t in ts]
        print(f"| {name} | {statistics.median(rate):,.0f} | {min(rate):,.0f}-{max(rate):,.0f} | "
              f"{st_fp16 / statistics.median(ts):.2f}x | {cosine(outputs[name], reference).min():.5f} |")


# -- issue 12 ----------------------------------------------------------------------------
class Recorder:
    """Rows for the markdown table, and one JSON line per measurement under $OUT."""

    def __init__(self, device: str):
        self.device, self.rows = device, []
        out = os.environ.get("OUT")
        self.jsonl = open(Path(out) / "issue12_results.jsonl", "a") if out else None

    def sync(self):
        if self.device == "cuda":
            torch.cuda.synchronize()

    def rates(self, fn, n: int, rounds: int) -> list[float]:
        fn()  # warm-up
        out = []
        for _ in range(rounds):
            self.sync()
            started = time.perf_counter()
            fn()
            self.sync()
            out.append(n / (time.perf_counter() - started))
        return out

    def add(self, stage: str, name: str, n: int, rates: list[float] | None = None, target: float | None = None, note: str = ""):
        med = statistics.median(rates) if rates else None
        verdict = "" if target is None or med is None else (" **met**" if med >= target else " **missed**")
        shown = "" if med is None else f"{med:,.0f} ({min(rates):,.0f}-{max(rates):,.0f})"
        self.rows.append([stage, name, f"{n:,}", shown, (f">= {target:,.0f}" if target else "") + verdict, note])
        row = {"stage": stage, "name": name, "n": n, "texts_per_s": rates, "median": med, "target": target, "note": note}
        print(json.dumps(row), flush=True)
        if self.jsonl:
            self.jsonl.write(json.dumps(row) + "\n")
            self.jsonl.flush()


def cycled_tweets(folder, n: int) -> list[str]:
    base = []
    for split in ("train", "validation", "test"):
        base += B.read_emotion(folder, split)[0]
    return [base[i % len(base)] + ("" if i < len(base) else f" {i // len(base) + 1}") for i in range(n)]


def bound_loop(model_dir: str, texts: list[str], dtype, device: str, rows: int = 1024, budget: int = 65536):
    """Device work only: tokenized beforehand (not timed), sorted, padded, mean pooled."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, dtype=dtype).to(device).eval()
    ids = tok(texts, truncation=True, max_length=512)["input_ids"]
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    batches = []
    for index in B.plan_batches(lengths, rows, budget):
        width = int(lengths[index].max())
        arr = np.zeros((len(index), width), np.int64)
        mask = np.zeros((len(index), width), np.int64)
        for r, j in enumerate(index):
            arr[r, : lengths[j]] = ids[j]
            mask[r, : lengths[j]] = 1
        batches.append((torch.from_numpy(arr).to(device), torch.from_numpy(mask).to(device)))

    def run():
        with torch.inference_mode():
            for a, m in batches:
                h = model(input_ids=a, attention_mask=m).last_hidden_state
                w = m.unsqueeze(-1).to(h.dtype)
                ((h * w).sum(1) / w.sum(1)).float()

    return run


def tokenization_runs(model_dir: str, texts: list[str]) -> dict:
    import itertools

    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    from bertfeat import BertVectorizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    rust = Tokenizer.from_str(tok.backend_tokenizer.to_str())
    rust.no_padding()
    rust.enable_truncation(512)

    def rust_numpy():
        rows = [e.ids for e in rust.encode_batch(texts)]
        np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64)

    import bertfeat._encode as encode

    vec = BertVectorizer(model=model_dir, device="cpu", progress=False).fit(texts[:2])
    loaded, opts = vec._encoder(), vec._options
    return {
        "tokenize only: Hugging Face batch call": lambda: tok(texts, truncation=True, max_length=512),
        "tokenize only: Rust encode_batch into numpy": rust_numpy,
        "tokenize only: the path's tokenizer (one call)": lambda: encode.tokenize_chunk(loaded, texts, False, opts),
    }


def issue12(args) -> None:
    from bertfeat import BertVectorizer, FineTuneClassifier
    from bertfeat._store import default_model_path

    device = args.device
    rec = Recorder(device)
    model = args.model or os.environ.get("MINILM") or default_model_path()
    folder = B.data_dir(args.data or os.environ.get("EMOTION"))
    if folder is None:
        raise SystemExit("issue 12's GPU figures are on emotion tweets: pass --data (or set BERTFEAT_DATA)")
    small = args.small
    n_short, n_base, n_fidelity = (64, 32, 16) if small else (50000, 20000, 2000)
    texts = cycled_tweets(folder, n_short)
    half = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float16
    print(f"{torch.cuda.get_device_name() if device == 'cuda' else B.machine()}, torch {torch.__version__}", flush=True)

    # MiniLM, default parameters, end to end
    vec = BertVectorizer(model=model, device=device, progress=False).fit(texts[:2])
    rec.add("MiniLM", "BertVectorizer defaults, end to end", n_short, rec.rates(lambda: vec.transform(texts), n_short, args.rounds),
            None if small else 100000, f"batch {vec._options.batch_size}, budget {vec._options.token_budget}, dtype {vec._loaded_dtype()}")
    rec.add("MiniLM", "bound: pre-tokenized sorted fp16 loop", n_short,
            rec.rates(bound_loop(model, texts, torch.float16, device), n_short, args.rounds))
    for name, fn in tokenization_runs(model, texts).items():
        rec.add("MiniLM", name, n_short, rec.rates(fn, n_short, args.rounds))
    # fidelity
    sub = texts[:n_fidelity]
    fp32 = BertVectorizer(model=model, device=device, dtype="float32", progress=False).fit(sub).transform(sub)
    cpu = BertVectorizer(model=model, device="cpu", progress=False).fit(sub).transform(sub)
    rec.add("fidelity", f"{device} fp32 vs CPU fp32: lowest cosine", n_fidelity, note=f"{cosine(fp32, cpu).min():.6f} (>= 0.99999)")
    for dtype in ("bfloat16", "float16"):
        got = BertVectorizer(model=model, device=device, dtype=dtype, progress=False).fit(sub).transform(sub)
        rec.add("fidelity", f"{dtype} vs {device} fp32: lowest cosine", n_fidelity, note=f"{cosine(got, fp32).min():.6f} (>= 0.999)")
    # bert-base size
    with tempfile.TemporaryDirectory(prefix="bertfeat-gpu-base-") as scratch:
        from transformers import AutoTokenizer, BertConfig, BertModel

        torch.manual_seed(0)
        size = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64) if small else {}
        BertModel(BertConfig(vocab_size=30522, **size)).save_pretrained(scratch)
        AutoTokenizer.from_pretrained(model).save_pretrained(scratch)
        base_texts = texts[:n_base]
        base = BertVectorizer(model=scratch, device=device, progress=False).fit(base_texts[:2])
        rec.add("bert-base size", "BertVectorizer defaults, end to end", n_base,
                rec.rates(lambda: base.transform(base_texts), n_base, args.rounds), None if small else 45000)
        rec.add("bert-base size", f"bound: pre-tokenized sorted {str(half).split('.')[-1]} loop", n_base,
                rec.rates(bound_loop(scratch, base_texts, half, device), n_base, args.rounds))
    # fine-tuned inference through the same path
    train, labels = B.read_emotion(folder, "train")
    n_train = 64 if small else 2000
    clf = FineTuneClassifier(model=model, max_epochs=1, device=device, verbose=0, random_state=0).fit(train[:n_train], labels[:n_train])
    rec.add("FineTuneClassifier", "predict_proba (MiniLM)", n_short, rec.rates(lambda: clf.predict_proba(texts), n_short, args.rounds))
    if args.sweep:
        for rows, budget in [(256, 65536), (512, 65536), (1024, 32768), (1024, 65536), (2048, 65536), (2048, 131072), (4096, 131072)]:
            swept = BertVectorizer(model=model, device=device, batch_size=rows, token_budget=budget, progress=False).fit(texts[:2])
            rec.add("sweep (MiniLM)", f"batch_size {rows}, token_budget {budget}", n_short,
                    rec.rates(lambda: swept.transform(texts), n_short, args.rounds))
    markdown = "\n".join([
        "## GPU encode pipeline (issue 12)", "", f"Command: `{B.command_line()}`", "",
        f"Device: {torch.cuda.get_device_name() if device == 'cuda' else 'cpu (script check only)'}, torch {torch.__version__}; "
        f"{args.rounds} timed rounds after a warm-up; texts: emotion tweets cycled.", "",
        B.md_table(["stage", "contender", "texts", "texts/s median (range)", "target", "note"], rec.rows),
    ])
    print(markdown)
    if args.write:
        B.write_section(args.write, "gpu-encode", markdown)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None)
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--issue12", action="store_true")
    p.add_argument("--data", default=None)
    p.add_argument("--device", default="cuda")
    p.add_argument("--small", action="store_true", help="tiny sizes: check the script itself")
    p.add_argument("--sweep", action="store_true")
    p.add_argument("--write", default=None)
    args = p.parse_args()
    if args.issue12:
        issue12(args)
    else:
        legacy(args)


if __name__ == "__main__":
    main()
