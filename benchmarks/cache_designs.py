"""The two designs the disk cache chose between, side by side (issue 13's first measurement).

A: vectors as BLOBs in SQLite (WAL), ``key BLOB PRIMARY KEY, crc, vector BLOB``.
B: SQLite (WAL) index ``key -> (file, row, crc)`` + append-only float32 files, memory-mapped.

Both minimal (no damage handling), random vectors, chunks of 4,096 per transaction. Each
measurement runs in a fresh process: write N, then 1,000 random hits (first, again, other),
then a bulk read of the first 100,000 keys. The winner (B) became ``bertfeat/_cache.py``.

    python benchmarks/cache_designs.py --n 1000000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np

DIM = 384


def keys_for(indices):
    return [hashlib.blake2b(f"t{i}".encode(), digest_size=16).digest() for i in indices]


def connect(path):
    db = sqlite3.connect(path, timeout=60, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-131072"):
        db.execute(f"PRAGMA {pragma}")
    return db


class Blobs:
    def __init__(self, folder):
        self.db = connect(os.path.join(folder, "v.db"))
        self.db.execute("CREATE TABLE IF NOT EXISTS v(k BLOB PRIMARY KEY, crc INTEGER NOT NULL, v BLOB NOT NULL)")

    def put(self, keys, vectors):
        rows = [(k, zlib.crc32(v, zlib.crc32(k)), v) for k, v in zip(keys, map(bytes, vectors))]
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany("INSERT OR IGNORE INTO v VALUES(?,?,?)", rows)
        self.db.execute("COMMIT")

    def get(self, keys):
        pos = {k: i for i, k in enumerate(keys)}
        out, found = np.empty((len(keys), DIM), np.float32), np.zeros(len(keys), bool)
        for a in range(0, len(keys), 30000):
            b = keys[a : a + 30000]
            for k, crc, v in self.db.execute(f"SELECT k,crc,v FROM v WHERE k IN ({','.join('?' * len(b))})", b):
                if zlib.crc32(v, zlib.crc32(k)) == crc:
                    out[pos[k]] = np.frombuffer(v, "<f4")
                    found[pos[k]] = True
        return found, out[found]


class IndexAndFiles:
    def __init__(self, folder):
        self.folder = folder
        self.db = connect(os.path.join(folder, "i.db"))
        self.db.execute("CREATE TABLE IF NOT EXISTS i(k BLOB PRIMARY KEY, f INTEGER NOT NULL, r INTEGER NOT NULL, "
                        "crc INTEGER NOT NULL) WITHOUT ROWID")
        self.file_id, self.handle, self.rows, self.maps = os.getpid(), None, 0, {}

    def put(self, keys, vectors):
        if self.handle is None:
            self.handle = open(os.path.join(self.folder, f"{self.file_id}.f32"), "ab")
        self.handle.write(vectors.tobytes())
        self.handle.flush()
        os.fsync(self.handle.fileno())
        rows = [(k, self.file_id, self.rows + j, zlib.crc32(v, zlib.crc32(k))) for j, (k, v) in enumerate(zip(keys, vectors))]
        self.rows += len(keys)
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany("INSERT OR IGNORE INTO i VALUES(?,?,?,?)", rows)
        self.db.execute("COMMIT")

    def get(self, keys):
        pos = {k: i for i, k in enumerate(keys)}
        out, found = np.empty((len(keys), DIM), np.float32), np.zeros(len(keys), bool)
        hits = []
        for a in range(0, len(keys), 30000):
            b = keys[a : a + 30000]
            hits += self.db.execute(f"SELECT k,f,r,crc FROM i WHERE k IN ({','.join('?' * len(b))})", b).fetchall()
        by_file = {}
        for h in hits:
            by_file.setdefault(h[1], []).append(h)
        for f, hs in by_file.items():
            if f not in self.maps:
                self.maps[f] = np.memmap(os.path.join(self.folder, f"{f}.f32"), "<f4", "r").reshape(-1, DIM)
            rows = np.array([h[2] for h in hs])
            order = np.argsort(rows)
            block = self.maps[f][rows[order]]
            for j, o in enumerate(order):
                k = hs[o][0]
                if zlib.crc32(block[j], zlib.crc32(k)) == hs[o][3]:
                    out[pos[k]] = block[j]
                    found[pos[k]] = True
        return found, out[found]


DESIGNS = {"blobs": Blobs, "index+files": IndexAndFiles}


def child(design, folder, n, bulk):
    store_class = DESIGNS[design]
    rng = np.random.default_rng(0)
    keys, pool = keys_for(range(n)), rng.standard_normal((4096, DIM), dtype=np.float32)
    began, store = time.perf_counter(), store_class(folder)
    for a in range(0, n, 4096):
        store.put(keys[a : a + 4096], pool[: len(keys[a : a + 4096])])
    result = {"write_s": time.perf_counter() - began}
    del store
    picks = [keys[i] for i in rng.choice(n, min(1000, n), replace=False)]
    others = [keys[i] for i in rng.choice(n, min(1000, n), replace=False)]
    began, store = time.perf_counter(), store_class(folder)
    for name, ks in (("hits_first_s", picks), ("hits_again_s", picks), ("hits_other_s", others)):
        if name != "hits_first_s":
            began = time.perf_counter()
        assert store.get(ks)[0].all()
        result[name] = time.perf_counter() - began
    began = time.perf_counter()
    assert store.get(keys[:bulk])[0].all()
    result["bulk_texts_per_s"] = bulk / (time.perf_counter() - began)
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000000)
    parser.add_argument("--bulk", type=int, default=100000)
    parser.add_argument("--folder", default=None, help="where the stores go (a temporary folder inside it)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.folder, args.n, min(args.bulk, args.n))
    work = tempfile.mkdtemp(prefix="bertfeat-cache-designs-", dir=args.folder)
    try:
        print(f"loadavg: {open('/proc/loadavg').read().strip() if os.path.exists('/proc/loadavg') else '?'}")
        for design in DESIGNS:
            folder = os.path.join(work, design)
            os.makedirs(folder)
            out = subprocess.run([sys.executable, __file__, "--child", design, "--folder", folder, "--n", str(args.n),
                                  "--bulk", str(args.bulk)], capture_output=True, text=True, check=True)
            print(design, out.stdout.strip(), flush=True)
            shutil.rmtree(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
