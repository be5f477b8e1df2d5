"""The disk cache at scale: today's store against format 1 (the shard store), side by side.

Through the store directly (``VectorCache.put`` / ``get``), random float32 vectors, keys of
synthetic texts (``text_key("synthetic text number i")``). Per size and round, for each store
in turn (order alternating between rounds):

- write: ``put`` of the whole cache in chunks of 4,096 (as ``transform`` stores them);
- lookups, in a FRESH PROCESS: 1,000 random hits (store opened inside the timing), the same
  1,000 again, then 1,000 other random hits;
- bulk (sizes up to ``--bulk``): every key of the cache asked at once, fresh process, then again.

Format 1 is loaded from git (``git show REF:bertfeat/_cache.py``); where git or the ref is
missing it is skipped with a note. The OS page cache is left warm (the files were just
written; other processes' caches are not dropped). Every folder is deleted at the end.

    python benchmarks/cache.py --sizes 3000,100000,1000000 --rounds 2
    python benchmarks/cache.py --sizes 10000000 --stores new --rounds 1
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHUNK = 4096
POOL = 65536  # distinct random vectors, cycled: generating 10M normals would dominate the run


def load_store(kind: str, old_module: str | None):
    if kind == "new":
        from bertfeat import _cache

        return _cache
    spec = importlib.util.spec_from_file_location("bertfeat_cache_format1", old_module)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def keys_of(store, indices) -> list[bytes]:
    return [store.text_key(f"synthetic text number {i}") for i in indices]


def write(store, folder: Path, n: int, dim: int) -> float:
    pool = np.random.default_rng(0).standard_normal((POOL, dim), dtype=np.float32)
    cache = store.VectorCache(folder, "setup", dim, {"benchmark": "cache.py"})
    elapsed = 0.0
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        keys = keys_of(store, range(start, stop))  # key hashing is the vectorizer's cost, not the store's
        offset = start % POOL
        vectors = pool[offset : offset + (stop - start)]
        if len(vectors) < stop - start:
            vectors = np.concatenate([vectors, pool[: stop - start - len(vectors)]])
        began = time.perf_counter()
        cache.put(keys, vectors)
        elapsed += time.perf_counter() - began
    began = time.perf_counter()
    if hasattr(cache, "flush"):  # the end of a transform: every row published (format 2)
        cache.flush()
    return elapsed + time.perf_counter() - began


def child(args) -> None:
    """Runs in a fresh process: open the store and time the lookups; one JSON line out."""
    store = load_store(args.store, args.old_module)
    rng = np.random.default_rng(args.seed)
    result = {}
    if args.child == "lookup":
        first_keys = keys_of(store, rng.choice(args.n, size=min(args.lookups, args.n), replace=False))
        other_keys = keys_of(store, rng.choice(args.n, size=min(args.lookups, args.n), replace=False))
        plan = [("first", first_keys), ("repeated", first_keys), ("other", other_keys)]
    else:
        every = keys_of(store, range(args.n))
        plan = [("bulk_first", every), ("bulk_repeated", every)]
    began = time.perf_counter()
    cache = store.VectorCache(args.folder, "setup", args.dim)
    for name, keys in plan:
        if name not in ("first", "bulk_first"):
            began = time.perf_counter()
        found, vectors = cache.get(keys)
        result[name] = time.perf_counter() - began
        if not found.all() or vectors.shape != (len(keys), args.dim):
            raise SystemExit(f"{args.store}: {int((~found).sum())} of {len(keys)} keys not found")
    print(json.dumps(result))


def in_fresh_process(kind: str, what: str, folder: Path, n: int, args) -> dict:
    cmd = [sys.executable, __file__, "--child", what, "--store", kind, "--folder", str(folder), "--n", str(n),
           "--dim", str(args.dim), "--lookups", str(args.lookups), "--seed", str(args.seed)]
    if args.old_module:
        cmd += ["--old-module", args.old_module]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"{kind} {what} child failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def old_store_source(ref: str, workdir: Path) -> str | None:
    try:
        text = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:bertfeat/_cache.py"], capture_output=True,
                              text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"format 1 store unavailable ({ref}: {exc}); measuring the new store only")
        return None
    if "BFSHARD1" not in text:
        print(f"{ref}:bertfeat/_cache.py is not the format-1 shard store; measuring the new store only")
        return None
    path = workdir / "cache_format1.py"
    path.write_text(text)
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="3000,100000,1000000", help="cache sizes (vectors), comma separated")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--lookups", type=int, default=1000, help="random hits per lookup")
    parser.add_argument("--bulk", type=int, default=100000, help="largest size that also gets the bulk test")
    parser.add_argument("--stores", default="old,new", help="old (format 1, from git) and/or new")
    parser.add_argument("--old-ref", default="main", help="git ref holding the format-1 bertfeat/_cache.py")
    parser.add_argument("--folder", default=None, help="where the caches go (a temporary folder inside it)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", choices=["lookup", "bulk"], help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--old-module", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.folder = Path(args.folder)
        return child(args)

    work = Path(tempfile.mkdtemp(prefix="bertfeat-cache-bench-", dir=args.folder))
    try:
        stores = [s for s in args.stores.split(",") if s]
        if "old" in stores:
            args.old_module = old_store_source(args.old_ref, work)
            if args.old_module is None:
                stores.remove("old")
        print(f"loadavg before: {Path('/proc/loadavg').read_text().strip() if Path('/proc/loadavg').exists() else '?'}")
        rows = []
        for n in (int(s) for s in args.sizes.split(",")):
            for r in range(args.rounds):
                for kind in (stores if r % 2 == 0 else stores[::-1]):
                    folder = work / f"{kind}-{n}"
                    row = {"store": kind, "n": n, "round": r + 1, "write": write(load_store(kind, args.old_module), folder, n, args.dim)}
                    row.update(in_fresh_process(kind, "lookup", folder, n, args))
                    if n <= args.bulk:
                        row.update(in_fresh_process(kind, "bulk", folder, n, args))
                    row["bytes"] = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
                    shutil.rmtree(folder)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        print(f"loadavg after: {Path('/proc/loadavg').read_text().strip() if Path('/proc/loadavg').exists() else '?'}")
        report(rows, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(rows: list[dict], args) -> None:
    print()
    print(f"| store | vectors | round | write (s) | {args.lookups} hits, fresh process (s) | same again (s) | "
          f"{args.lookups} other (s) | bulk: all, fresh (texts/s) | bulk again (texts/s) | size on disk |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        bulk = [f"{row['n'] / row[k]:,.0f}" if k in row else "-" for k in ("bulk_first", "bulk_repeated")]
        print(f"| {row['store']} | {row['n']:,} | {row['round']} | {row['write']:.2f} | {row['first']:.4f} | "
              f"{row['repeated']:.4f} | {row['other']:.4f} | {bulk[0]} | {bulk[1]} | {row['bytes'] / 1e9:.2f} GB |")


if __name__ == "__main__":
    main()
