"""GPU timing: BertVectorizer in fp32 / fp16 / bf16 against sentence-transformers ``encode``.

    python benchmarks/gpu_speed.py [--model DIR] [--n 20000] [--rounds 3]

Same model folder and texts for everyone; interleaved rounds; texts/s medians and
ranges, and the cosine of each contender's vectors to BertVectorizer fp32. The corpus
is synthetic (vocabulary words, tweet-like lengths) so that it runs where no data is.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch


def corpus(vocab_file: str, n: int, seed: int = 0) -> list[str]:
    words = [w for w in open(vocab_file, encoding="utf-8").read().split() if w.isalpha() and len(w) > 2]
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(3.0, 0.5, n), 3, 150).astype(int)  # tweet-like: mean ~22 words
    return [" ".join(rng.choice(words, size=k)) for k in lengths]


def cosine(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def main() -> None:
    from bertfeat import BertVectorizer
    from bertfeat._store import default_model_path

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default=None)
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    model = args.model or default_model_path()
    texts = corpus(f"{model}/vocab.txt", args.n)
    contenders = {f"BertVectorizer {d}": BertVectorizer(model=model, device="cuda", dtype=d, progress=False).fit(texts[:1])
                  for d in ("float32", "float16", "bfloat16")}

    def vectorizer(est):
        return lambda: est.transform(texts)

    runs = {name: vectorizer(est) for name, est in contenders.items()}
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
    outputs = {}
    for name, run in runs.items():  # warm-up, and the vectors for fidelity
        outputs[name] = np.asarray(run(), dtype=np.float32)
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


if __name__ == "__main__":
    main()
