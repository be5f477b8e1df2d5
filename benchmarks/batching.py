"""Batch settings study on the CPU: texts/s over max batch size and token budget.

    python benchmarks/batching.py [--data DIR] [--n-short 1000] [--n-long 100] [--rounds 3]
                                  [--engine vectorizer|loop] [--write BENCHMARKS.md]

Two corpora: short texts (emotion tweets, ~22 tokens) and long texts (tweets joined
to 350..450 tokens). Three sweeps, all with batches sorted by length, longest first,
each padded to its own longest (BertVectorizer's plan):

* max batch size in {8, 16, 32, 64, 128} with no token budget;
* token budget (padded tokens per batch) in {1024, 2048, 4096, 8192, 16384} with no
  cap on rows;
* a few (max batch size, token budget) pairs, both caps at once, as the library uses them.

Rounds are interleaved: each round runs every setting once on the whole corpus, in a
rotated order; the ratio to the current default (32, 4096) is taken within each round.
``--engine vectorizer`` times ``BertVectorizer(batch_size=..., token_budget=...)``
(no cache); ``--engine loop`` the minimal loop of benchmarks/_bench.py.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _bench as B

NO_LIMIT = 1 << 30
BATCH_SIZES = (8, 16, 32, 64, 128)
BUDGETS = (1024, 2048, 4096, 8192, 16384)
PAIRS = ((16, 2048), (32, 4096), (64, 4096), (32, 8192), (64, 8192), (128, 8192))
DEFAULT = (32, 4096)


def settings(pairs) -> list[tuple[str, int, int]]:
    out = [(f"batch {b}, no budget", b, NO_LIMIT) for b in BATCH_SIZES]
    out += [(f"budget {t}, no row cap", NO_LIMIT, t) for t in BUDGETS]
    out += [(f"batch {b} + budget {t}", b, t) for b, t in pairs]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="shared data folder holding emotion/ (default: BERTFEAT_DATA)")
    parser.add_argument("--n-short", type=int, default=1000)
    parser.add_argument("--n-long", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engine", choices=("vectorizer", "loop"), default="vectorizer")
    parser.add_argument("--corpora", default="short,long")
    parser.add_argument("--pairs", default=",".join(f"{b}x{t}" for b, t in PAIRS),
                        help="(batch size x token budget) pairs to run with both caps, e.g. 32x4096,64x8192")
    parser.add_argument("--write", default=None, help="write the tables into this markdown file")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")

    folder = B.data_dir(args.data)
    if folder is None:
        print("emotion data not found (pass --data DIR or set BERTFEAT_DATA): using generated texts")
    tok, model = B.load_hf()
    corpora = {}
    if "short" in args.corpora:
        corpora["short"] = B.tweet_corpus(args.n_short, folder, seed=3)
    if "long" in args.corpora:
        corpora["long"] = B.long_corpus(args.n_long, folder, tok, 400)
    pairs = [tuple(int(x) for x in p.split("x")) for p in args.pairs.split(",") if p]
    if DEFAULT not in pairs:
        pairs.insert(0, DEFAULT)
    grid = settings(pairs)

    if args.engine == "vectorizer":
        from bertfeat import BertVectorizer

        def make(b, t):
            vec = BertVectorizer(batch_size=b, token_budget=t, progress=False).fit(["warm up"])
            return vec.transform
    else:
        def make(b, t):
            return lambda items: B.encode_sorted(model, tok, items, b, t)

    runners = {name: make(b, t) for name, b, t in grid}
    print(f"machine: {B.machine()}; engine {args.engine}")
    sections = []
    summary = {}
    for cname, (texts, source) in corpora.items():
        lengths = np.asarray([len(x) for x in tok(texts, truncation=True, max_length=512)["input_ids"]])
        for fn in runners.values():
            fn(texts[:16])
        load_before = B.load_average()
        names = [g[0] for g in grid]
        times = {n: [] for n in names}
        for r in range(args.rounds):
            k = (r * 7) % len(names)
            for n in names[k:] + names[:k]:
                t0 = time.perf_counter()
                runners[n](texts)
                times[n].append(time.perf_counter() - t0)
            print(f"{cname}: round {r + 1} done", flush=True)
        load_after = B.load_average()
        default_name = f"batch {DEFAULT[0]} + budget {DEFAULT[1]}"
        rows = []
        ratios = {}
        for name, b, t in grid:
            rates = [len(texts) / s for s in times[name]]
            rr = [d / s for s, d in zip(times[name], times[default_name])]
            ratios[name] = float(np.median(rr))
            rows.append([name, B.fmt_rate(rates), f"{np.median(rates) * lengths.mean():,.0f}",
                         f"{np.median(rr):.2f}x ({min(rr):.2f}-{max(rr):.2f})"])
        summary[cname] = ratios
        best = max(ratios, key=ratios.get)
        table = B.md_table(["setting", "texts/s median (range)", "tokens/s (median)",
                            f"x default ({DEFAULT[0]}, {DEFAULT[1]}) per round"], rows)
        sections.append(
            f"### {cname} texts\n\n{source}: {len(texts)} texts, {lengths.mean():.0f} tokens on average "
            f"(min {lengths.min()}, max {lengths.max()}). Load average {load_before} before, {load_after} after.\n\n"
            f"{table}\n\nFastest: **{best}** ({ratios[best]:.2f}x the default).\n"
        )
        print(sections[-1], flush=True)

    verdict = ""
    if len(summary) == 2:
        both = {n: float(np.sqrt(summary["short"][n] * summary["long"][n])) for n in summary["short"]}
        ranked = sorted(both, key=both.get, reverse=True)
        verdict = ("Geometric mean of the two ratios to the default, best first: "
                   + "; ".join(f"{n} {both[n]:.2f}x" for n in ranked[:6]) + ".\n")
        print(verdict)
    md = (
        "## Batch settings on the CPU\n\n"
        f"Command: `{B.command_line()}`\n\n"
        f"Machine: {B.machine()}. Engine: "
        + ("`BertVectorizer(batch_size=..., token_budget=...)`, no cache" if args.engine == "vectorizer"
           else "the minimal sorted-batch loop of benchmarks/_bench.py")
        + f". {args.rounds} interleaved rounds; batches sorted by length, longest first, each padded to its own "
        "longest; a batch holds at most `batch` rows and at most `budget` padded tokens.\n\n"
        + "\n".join(sections) + "\n" + verdict
    )
    if args.write:
        B.write_section(args.write, "batching", md)
        print(f"written to {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
