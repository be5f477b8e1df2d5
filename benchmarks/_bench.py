"""Shared pieces of the benchmarks: corpus, a minimal sorted-batch loop, FLOPs, GEMM bound, RSS.

Nothing here is imported by the package; the benchmarks import it as a sibling module.
"""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# --------------------------------------------------------------------------- data


def data_dir(arg: str | None = None) -> Path | None:
    """``--data``, else ``BERTFEAT_DATA``, else ``../shared/data`` beside the project."""
    candidates = [arg, os.environ.get("BERTFEAT_DATA"), str(ROOT.parent / "shared" / "data"),
                  str(ROOT.parent.parent / "shared" / "data")]
    for c in candidates:
        if c and (Path(c) / "emotion").is_dir():
            return Path(c)
        if c and Path(c).name == "emotion" and Path(c).is_dir():
            return Path(c).parent
    return None


def read_emotion(folder: Path, split: str) -> tuple[list[str], np.ndarray]:
    texts, labels = [], []
    with open(folder / "emotion" / f"{split}.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            texts.append(row["text"])
            labels.append(int(row["label"]))
    return texts, np.asarray(labels)


_WORDS = (
    "i feel so happy today because the sun is out and my friends are here but sometimes "
    "it is hard to stay calm when work piles up and nobody seems to care about what you "
    "think or how tired you are after a long week of meetings deadlines emails and coffee "
    "love anger fear surprise joy sadness really very quite little much more never always"
).split()  # noqa: SIM905


def generated_texts(n: int, seed: int = 0, mean_words: int = 19) -> list[str]:
    """Tweet-like English word salad, used only when the emotion data is absent."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = max(2, min(120, int(rng.expovariate(1.0 / mean_words)) + 2))
        out.append(" ".join(rng.choice(_WORDS) for _ in range(k)))
    return out


def tweet_corpus(n: int, folder: Path | None, seed: int = 0, long_tail: float = 0.0) -> tuple[list[str], str]:
    """``n`` distinct texts: emotion test+validation+train in a seeded shuffle.

    Past the 20,000 rows of emotion, two random tweets are joined (still tweet-like,
    still distinct). ``long_tail`` replaces that fraction of the texts by 3 to 6 tweets
    joined (about 60 to 160 tokens), like a real feed with a few long posts. Without the
    data folder, generated texts. Returns the texts and a description of their source.
    """
    if folder is None:
        texts, source = generated_texts(n, seed), "generated (emotion data absent)"
        pool = list(texts)
    else:
        pool = []
        for split in ("test", "validation", "train"):
            pool += read_emotion(folder, split)[0]
        pool = list(dict.fromkeys(pool))
        rng = random.Random(seed)
        rng.shuffle(pool)
        if n <= len(pool):
            texts = pool[:n]
            source = f"emotion (test+validation+train, shuffled seed {seed}), {n} distinct tweets"
        else:
            seen = set(pool)
            texts = list(pool)
            while len(texts) < n:
                text = rng.choice(pool) + " " + rng.choice(pool)
                if text not in seen:
                    seen.add(text)
                    texts.append(text)
            source = f"emotion tweets + pairs of tweets joined to reach {n} distinct texts"
    k = int(round(long_tail * n))
    if k:
        rng = random.Random(seed + 1)
        for i in rng.sample(range(n), k):
            texts[i] = " ".join(rng.choice(pool) for _ in range(rng.randint(3, 6)))
        source += f", of which {k} ({100 * long_tail:g}%) replaced by 3-6 tweets joined"
    return texts, source


def distinct_tweets(n: int, folder: Path | None, seed: int = 0) -> tuple[list[str], str]:
    """``n`` distinct tweet-length texts: the emotion tweets, then again with " 2", " 3"... appended.

    Unlike :func:`tweet_corpus` past 20,000 rows, texts keep the tweets' length, so that
    a memory test compares sizes of the same kind of text.
    """
    base, source = tweet_corpus(min(n, 20000), folder, seed)
    out = [base[i % len(base)] + ("" if i < len(base) else f" {i // len(base) + 1}") for i in range(n)]
    origin = "emotion tweets" if folder else "generated texts"
    return out, f"{origin}, cycled with a number appended past {len(base)}: {n} distinct texts"


def long_corpus(n: int, folder: Path | None, tokenizer, target_tokens: int = 400, seed: int = 1) -> tuple[list[str], str]:
    """``n`` texts of about ``target_tokens`` tokens (concatenated tweets, 350..450)."""
    base, source = tweet_corpus(20000 if folder else 4000, folder, seed)
    lengths = [len(ids) - 2 for ids in tokenizer(base, add_special_tokens=True)["input_ids"]]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        goal = rng.randint(target_tokens - 50, target_tokens + 50) - 2
        parts, total = [], 0
        while total < goal:
            j = rng.randrange(len(base))
            parts.append(base[j])
            total += lengths[j]
        out.append(". ".join(parts))
    origin = "emotion tweets" if folder else "generated texts"
    return out, f"{origin} joined into texts of {target_tokens - 50}..{target_tokens + 50} tokens"


# --------------------------------------------------------------------------- model


def model_path() -> str:
    from bertfeat._store import default_model_path

    return default_model_path()


def load_hf(path: str | None = None):
    """Tokenizer and fp32 eval encoder (transformers' default attention, SDPA for BERT)."""
    import transformers
    from transformers import AutoModel, AutoTokenizer

    transformers.logging.set_verbosity_error()
    try:
        transformers.utils.logging.disable_progress_bar()
    except Exception:
        pass
    path = path or model_path()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    return tok, model


def plan_batches(lengths: np.ndarray, max_batch_size: int, token_budget: int | None) -> list[np.ndarray]:
    """Longest first; a batch grows while rows <= max_batch_size and rows * longest <= budget."""
    order = np.argsort(-lengths, kind="stable")
    out, start, n = [], 0, len(order)
    while start < n:
        longest = int(lengths[order[start]])
        rows = max_batch_size if token_budget is None else max(1, min(max_batch_size, token_budget // max(longest, 1)))
        out.append(order[start : start + rows])
        start += rows
    return out


def mean_pool(hidden, mask):
    import torch

    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)


def encode_sorted(model, tok, texts: list[str], max_batch_size: int = 32, token_budget: int | None = 4096,
                  max_length: int = 512, forward=None) -> np.ndarray:
    """The minimal fast loop: tokenize once, sort by length, pad per batch, inference_mode, mean pool.

    ``forward(input_ids, attention_mask, token_type_ids) -> last_hidden_state`` replaces
    the HF model call (for the fast-mode candidates).
    """
    import torch

    enc = tok(texts, truncation=True, max_length=max_length, padding=False, return_attention_mask=False)
    ids = enc["input_ids"]
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    out = np.empty((len(texts), model.config.hidden_size if model is not None else 384), dtype=np.float32)
    pad = tok.pad_token_id or 0
    with torch.inference_mode():
        for index in plan_batches(lengths, max_batch_size, token_budget):
            width = int(lengths[index].max())
            input_ids = np.full((len(index), width), pad, dtype=np.int64)
            mask = np.zeros((len(index), width), dtype=np.int64)
            for r, i in enumerate(index):
                input_ids[r, : lengths[i]] = ids[i]
                mask[r, : lengths[i]] = 1
            t_ids, t_mask = torch.from_numpy(input_ids), torch.from_numpy(mask)
            t_types = torch.zeros_like(t_ids)
            if forward is None:
                hidden = model(input_ids=t_ids, attention_mask=t_mask, token_type_ids=t_types).last_hidden_state
            else:
                hidden = forward(t_ids, t_mask, t_types)
            out[index] = mean_pool(hidden.float(), t_mask).numpy()
    return out


def reference_vectors(model, tok, texts: list[str], max_length: int = 512) -> np.ndarray:
    """Truth for fidelity: fp32 eager-free forward of each text alone (no padding at all)."""
    import torch

    out = np.empty((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for i, text in enumerate(texts):
            enc = tok([text], truncation=True, max_length=max_length, return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            out[i] = hidden[0].mean(0).numpy()
    return out


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    num = (a * b).sum(1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return num / np.maximum(den, 1e-30)


# --------------------------------------------------------------------------- FLOPs and GEMM bound


def matmul_params(model) -> int:
    """Weights that multiply every token: the encoder's nn.Linear layers (not the pooler)."""
    import torch

    total = 0
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and "pooler" not in name:
            total += mod.weight.numel()
    return total


def flops_per_text(model, n_tokens: np.ndarray) -> np.ndarray:
    """Useful FLOPs of one unpadded text of ``n`` tokens (special tokens included).

    2 * matmul-params per token (dense layers) + 4 * L * n * hidden per token
    (Q.K^T and attention.V, each 2 * n * hidden per token per layer).
    """
    cfg = model.config
    p = matmul_params(model)
    n = n_tokens.astype(np.float64)
    return 2.0 * p * n + 4.0 * cfg.num_hidden_layers * cfg.hidden_size * n * n


def gemm_gflops(hidden: int = 384, intermediate: int = 1536, tokens: int = 768, repeats: int = 20) -> dict:
    """fp32 GFLOP/s of torch.nn.functional.linear on the encoder's shapes, in the model's mix.

    ``tokens`` rows = batch * padded length (768 = 32 texts of 24 tokens). One encoder
    layer does 4 (tokens x h) @ (h x h), one (tokens x h) @ (h x 4h) and one
    (tokens x 4h) @ (4h x h); the mix is weighted by their FLOPs.
    """
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    shapes = [(hidden, hidden, 4), (hidden, intermediate, 1), (intermediate, hidden, 1)]
    xs = {k: torch.randn(tokens, k) for k, _, _ in shapes}
    ws = {(k, n): torch.randn(n, k) for k, n, _ in shapes}
    with torch.inference_mode():
        for _ in range(3):
            for k, n, c in shapes:
                F.linear(xs[k], ws[(k, n)])
        best = None
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(repeats):
                for k, n, c in shapes:
                    for _ in range(c):
                        F.linear(xs[k], ws[(k, n)])
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
    flops = repeats * sum(2.0 * tokens * k * n * c for k, n, c in shapes)
    return {"tokens": tokens, "gflops": flops / best / 1e9}


def gemm_bound(model, tokens_options=(256, 768, 2048)) -> dict:
    """Best fp32 GFLOP/s over a few batch shapes (the bound is the best the BLAS can do)."""
    cfg = model.config
    runs = [gemm_gflops(cfg.hidden_size, cfg.intermediate_size, t) for t in tokens_options]
    best = max(runs, key=lambda r: r["gflops"])
    return {"runs": runs, "gflops": best["gflops"], "tokens": best["tokens"]}


# --------------------------------------------------------------------------- process info


def peak_rss_mb() -> float:
    """Peak resident set of this process (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cap = torch.backends.cpu.get_cpu_capability()
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({cap}, "
            f"{torch.get_num_threads()} threads), Python {platform.python_version()}")


def summarize(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def fmt_rate(values: list[float]) -> str:
    med, lo, hi = summarize(values)
    digits = 0 if med >= 100 else 1
    return f"{med:,.{digits}f} ({lo:,.{digits}f}-{hi:,.{digits}f})"


# --------------------------------------------------------------------------- interleaved timing


def interleaved_rates(candidates: dict, texts: list[str], rounds: int, slices: int = 4) -> dict:
    """Texts/s of each candidate, measured side by side in fine-grained turns.

    ``candidates`` maps a name to ``fn(texts)``. The corpus is cut into ``slices``;
    every (round, slice) runs each candidate once on that slice, in an order that
    rotates, so slow drifts in machine load hit all candidates alike. Returns per
    candidate the list of per-round rates (whole corpus) and the per-turn times.
    """
    names = list(candidates)
    parts = [texts[i::slices] for i in range(slices)]
    per_round = {n: [] for n in names}
    turns = {n: [] for n in names}
    for r in range(rounds):
        spent = {n: 0.0 for n in names}
        for s, part in enumerate(parts):
            k = (r * slices + s) % len(names)
            for name in names[k:] + names[:k]:
                t0 = time.perf_counter()
                candidates[name](part)
                dt = time.perf_counter() - t0
                spent[name] += dt
                turns[name].append(dt)
        for n in names:
            per_round[n].append(len(texts) / spent[n])
    return {"rates": per_round, "turns": turns}


def ratio_of_turns(turns: dict, name: str, base: str) -> list[float]:
    """Per-turn speed ratios ``base time / name time`` (>1: ``name`` is faster)."""
    return [b / a for a, b in zip(turns[name], turns[base])]


def load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


# --------------------------------------------------------------------------- BENCHMARKS.md


def write_section(path: str | Path, key: str, markdown: str) -> None:
    """Replace (or append) the block between ``<!-- BEGIN key -->`` and ``<!-- END key -->``."""
    path = Path(path)
    begin, end = f"<!-- BEGIN {key} -->", f"<!-- END {key} -->"
    block = f"{begin}\n{markdown.rstrip()}\n{end}\n"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text, encoding="utf-8")


def command_line() -> str:
    args = " ".join(sys.argv[1:])
    script = os.path.relpath(sys.argv[0], ROOT) if os.path.isabs(sys.argv[0]) else sys.argv[0]
    return f"python {script} {args}".strip()


def md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
