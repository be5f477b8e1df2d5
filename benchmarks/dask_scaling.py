"""One Dask worker against two, and the Dask path against plain ``transform``, in one run.

Five ways to encode the same corpus, timed in interleaved rounds (the order rotates each
round) so that load from other processes on a shared machine hits them alike:

* ``plain``: ``BertVectorizer.transform`` of the whole corpus in this process (torch threads 1);
* ``plain-parts``: the same, called once per partition of the Dask runs (what partitioning
  alone costs: each partition is length-sorted and batched on its own);
* ``dask-1``: ``bertfeat.dask.transform`` on a LocalCluster of 1 worker (1 thread);
* ``dask-2``: the same on a LocalCluster of 2 workers (1 thread each);
* ``dask-1t``: 1 worker with Dask's ``MALLOC_TRIM_THRESHOLD_`` and worker profiler off.

Dask's nannies start workers with ``OMP_NUM_THREADS=1``, so every configuration runs torch
on one thread per process. The cache is off: every round really encodes. The model is
loaded before the timed rounds (a warm-up round each). Reported per configuration: wall
time, texts/s, CPU seconds of the encoding processes and cores busy (CPU / wall: below the
number of workers when other processes hold the cores); and the per-round ratios
``dask-1 / dask-2`` (speed-up) and ``dask-1 / plain`` (overhead of the Dask path, split
into partitioning and Dask itself), as median and range.

    OMP_NUM_THREADS=1 python benchmarks/dask_scaling.py --n 2000 --rounds 5

Data: ``--data`` or ``$BERTFEAT_DATA`` or ``../shared/data`` (``emotion/train.jsonl``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout, for this process and (via spawn) the workers


def default_data() -> str:
    """``$BERTFEAT_DATA``, else the first ``shared/data`` beside this checkout or above it."""
    if os.environ.get("BERTFEAT_DATA"):
        return os.environ["BERTFEAT_DATA"]
    for parent in ROOT.parents:
        if (parent / "shared" / "data").is_dir():
            return str(parent / "shared" / "data")
    return str(ROOT.parent / "shared" / "data")


def load_texts(data: Path, n: int) -> list[str]:
    path = data / "emotion" / "train.jsonl"
    texts = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            texts.append(json.loads(line)["text"])
            if len(texts) == n:
                break
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=default_data())
    parser.add_argument("--model", default=None, help="model folder (default: the embedded all-MiniLM-L6-v2)")
    parser.add_argument("--n", type=int, default=2000, help="texts")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--partitions", type=int, default=16)
    args = parser.parse_args()

    import dask
    import dask.bag as db
    import numpy as np
    import torch
    from distributed import Client, LocalCluster

    import bertfeat.dask as bd
    from bertfeat import BertVectorizer

    torch.set_num_threads(1)
    texts = load_texts(Path(args.data), args.n)
    vec = BertVectorizer(model=args.model, progress=False).fit(texts[:1])
    bag = db.from_sequence(texts, npartitions=args.partitions)

    def cluster(n):
        return LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40)

    # "t": Dask's defaults less two that cost torch CPU time in the worker: the nanny's
    # MALLOC_TRIM_THRESHOLD_=65536 (memory handed back to the OS after each batch, then
    # faulted in again) and the statistical profiler thread. Started first: nannies copy
    # their spawn environment into this process's os.environ.
    os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    with dask.config.set({
        "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
        "distributed.worker.profile.enabled": False,
    }):
        clusters = {"1t": cluster(1)}
    clusters.update({"1": cluster(1), "2": cluster(2)})
    clients = {k: Client(c, set_as_default=False) for k, c in clusters.items()}

    def partitions(bag):  # the bag's partitions as lists, in order (made before any timing)
        return [list(p.compute(scheduler="sync")) for p in bag.to_delayed()]

    def cpu_seconds(name):  # CPU time of the processes that encode (this one, or the workers)
        if name.startswith("plain"):
            return time.process_time()
        return sum(clients[name.split("-")[1]].run(time.process_time).values())

    def run(name, texts, bag, parts):
        cpu = cpu_seconds(name)
        start = time.perf_counter()
        if name == "plain":
            out = vec.transform(texts)
        elif name == "plain-parts":  # the same partitions as Dask, one after the other, in this process
            out = np.concatenate([vec.transform(part) for part in parts])
        else:
            client = clients[name.split("-")[1]]
            out = client.compute(bd.transform(vec, bag, client=client), sync=True)
        assert out.shape == (len(texts), vec.n_features_out_)
        wall = time.perf_counter() - start
        cpu_used[name].append(cpu_seconds(name) - cpu)
        return wall

    names = ["plain", "plain-parts", "dask-1", "dask-2", "dask-1t"]
    cpu_used = {name: [] for name in names}
    warm = texts[:64]
    for name in names:  # warm-up: model loads, imports, first-call costs
        warm_bag = db.from_sequence(warm, npartitions=4)
        run(name, warm, warm_bag, partitions(warm_bag))
    parts = partitions(bag)
    times = {name: [] for name in names}
    cpu_used = {name: [] for name in names}
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            times[name].append(run(name, texts, bag, parts))
        print(f"round {r + 1}: " + ", ".join(f"{n} {times[n][-1]:.2f}s" for n in names), flush=True)

    speedup = [a / b for a, b in zip(times["dask-1"], times["dask-2"])]
    overhead = [a / b for a, b in zip(times["dask-1"], times["plain"])]
    dask_only = [a / b for a, b in zip(times["dask-1"], times["plain-parts"])]
    tuned = [a / b for a, b in zip(times["dask-1t"], times["plain-parts"])]
    cpu_ratio = {n: [a / b for a, b in zip(cpu_used[n], cpu_used["plain-parts"])] for n in ("dask-1", "dask-1t")}
    batching = [a / b for a, b in zip(times["plain-parts"], times["plain"])]
    stats = {w: bd.worker_stats(c) for w, c in clients.items()}

    def span(values, fmt="{:.2f}"):
        return f"{fmt.format(statistics.median(values))} (range {fmt.format(min(values))}-{fmt.format(max(values))})"

    print()
    print(f"corpus: {len(texts)} emotion texts, model {vec.model_path_}, {args.partitions} partitions, "
          f"{args.rounds} interleaved rounds; {os.cpu_count()} CPUs, load average at end "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}; {platform.processor() or platform.machine()}")
    print()
    print("| configuration | wall s, median (range) | texts/s (median) | CPU s (encoding processes) | cores busy (CPU / wall) |")
    print("|---|---|---|---|---|")
    for name in names:
        busy = [c / w for c, w in zip(cpu_used[name], times[name])]
        print(f"| {name} | {span(times[name])} | {len(texts) / statistics.median(times[name]):.0f} "
              f"| {span(cpu_used[name], '{:.1f}')} | {span(busy)} |")
    print()
    print(f"speed-up 2 workers vs 1 (per-round ratio): {span(speedup)}")
    print(f"Dask path at 1 worker vs plain transform (per-round ratio): {span(overhead, '{:.3f}')}")
    print(f"  of which partitioning (plain-parts / plain): {span(batching, '{:.3f}')}")
    print(f"  and Dask itself (dask-1 / plain-parts): {span(dask_only, '{:.3f}')}")
    print(f"Dask itself with trimming and profiler off (dask-1t / plain-parts): {span(tuned, '{:.3f}')}")
    for n, ratios in cpu_ratio.items():
        print(f"CPU seconds, {n} / plain-parts: {span(ratios, '{:.3f}')}")
    print("model loads per worker: " + ", ".join(f"dask-{k} {[s['load_count'] for s in v.values()]}" for k, v in stats.items()))
    for client in clients.values():
        client.close()
    for cluster in clusters.values():
        cluster.close()


if __name__ == "__main__":
    main()
