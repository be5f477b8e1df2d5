"""Disk cache lookups from a warm and from a cold OS page cache, this tree against a git ref.

Builds one cache per size with this tree's store (random float32 vectors, dim 384, keys of
synthetic texts, as ``benchmarks/cache.py`` writes them), then, per round and size, times
1,000 random hits in a FRESH PROCESS (store opened inside the timing) for each page-cache
state and each code version, versions alternating order between rounds:

- ``warm``: every file of the cache read through first, then one untimed lookup of other
  keys per version (the case ``cache.py`` measures);
- ``cold``: every file dropped from the OS page cache first (``posix_fadvise(DONTNEED)``,
  no root needed): a new machine, a new Dask worker, or a cache larger than memory;
- ``cold-index`` / ``cold-data``: only the index, or only the data files, dropped.

``--against REF`` reads the same folders with the ``bertfeat`` package of a git ref
(``git archive``), so both versions answer the same 1,000 keys from the same bytes.
Every folder is deleted at the end. Linux only (``posix_fadvise``).

    python benchmarks/cache_cold.py --sizes 3000,1000000,10000000 --against e7336b0 --rounds 3
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STATES = ("warm", "cold", "cold-index", "cold-data")


def drop_from_page_cache(folder: Path, which: str) -> None:
    """Evict the cache's files (all, only the index, or only the data) from the OS page cache."""
    for path in folder.rglob("*"):
        is_index = path.name.startswith("index.sqlite")
        if not path.is_file() or (which == "cold-index" and not is_index) or (which == "cold-data" and is_index):
            continue
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fdatasync(fd)  # dirty pages cannot be dropped
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def read_through(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                while handle.read(1 << 24):
                    pass


def child(folder: Path, n: int, seed: int) -> None:
    """Fresh process: 1,000 random hits, store opened inside the timing; one JSON line out."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bertfeat import _cache  # the version on PYTHONPATH (this tree or the ref)

    from cache import keys_of  # noqa: E402 - benchmarks/cache.py, same key scheme

    keys = keys_of(_cache, np.random.default_rng(seed).choice(n, size=min(1000, n), replace=False))
    began = time.perf_counter()
    found, vectors = _cache.VectorCache(folder, "setup", 384).get(keys)
    elapsed = time.perf_counter() - began
    if not found.all():
        raise SystemExit(f"{int((~found).sum())} of {len(keys)} keys not found")
    print(json.dumps({"seconds": elapsed, "module": _cache.__file__}))


def extract(ref: str, into: Path) -> Path:
    """The ``bertfeat`` package as it is at git ``ref``, unpacked under ``into``."""
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "bertfeat"], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    return into


def lookup(code_root: Path, folder: Path, n: int, seed: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(code_root), OMP_NUM_THREADS="1")
    cmd = [sys.executable, __file__, "--child", str(folder), "--n", str(n), "--seed", str(seed)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    assert answer["module"].startswith(str(code_root)), answer["module"]
    return answer["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="3000,1000000")
    parser.add_argument("--states", default=",".join(STATES))
    parser.add_argument("--against", default=None, help="git ref whose bertfeat reads the same caches")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--folder", default=None, help="where the caches go (a temporary folder inside it)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(Path(args.child), args.n, args.seed)

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bertfeat import _cache
    from cache import write  # noqa: E402

    work = Path(tempfile.mkdtemp(prefix="bertfeat-cache-cold-", dir=args.folder))
    try:
        versions = {"this tree": ROOT}
        if args.against:
            versions[args.against] = extract(args.against, work / "ref")
        sizes = [int(s) for s in args.sizes.split(",")]
        states = args.states.split(",")
        print(f"loadavg before: {Path('/proc/loadavg').read_text().strip()}", flush=True)
        for n in sizes:
            seconds = write(_cache, work / str(n), n, 384)
            print(f"{n:,} vectors written in {seconds:.1f} s", flush=True)
        times: dict[tuple, list[float]] = {}
        for r in range(args.rounds):
            order = list(versions) if r % 2 == 0 else list(versions)[::-1]
            for n in sizes:
                folder = work / str(n)
                for state in states:
                    if state == "warm":
                        read_through(folder)  # once: a lookup leaves the page cache warm
                        for version in order:  # untimed: whoever ran first after the read-through paid ~2x
                            lookup(versions[version], folder, n, seed=7 + r)
                    for version in order:
                        if state != "warm":
                            drop_from_page_cache(folder, state)
                        took = lookup(versions[version], folder, n, seed=1000 * r + n % 997)
                        times.setdefault((n, state, version), []).append(took)
                        print(json.dumps({"round": r + 1, "n": n, "state": state, "version": version, "seconds": took}), flush=True)
        print(f"loadavg after: {Path('/proc/loadavg').read_text().strip()}")
        print("\n| vectors | page cache | code | 1,000 hits, fresh process: median (s) | rounds (s) |")
        print("|---|---|---|---|---|")
        for (n, state, version), got in times.items():
            rounds = ", ".join(f"{t:.4f}" for t in got)
            print(f"| {n:,} | {state} | {version} | {np.median(got):.4f} | {rounds} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
