"""Native CPython peer for the score workload: sqlite3 + a linear model, in N processes.

Usage: native_score.py DB PROCESSES -> prints JSON {rows, checksum}. Standard library only.
"""
import json
import sqlite3
import sys
from multiprocessing import Pool

W0, W1, W2, W3 = 0.5, 1.5, -2.0, 0.25


def score_range(args):
    db, lo, hi = args
    conn = sqlite3.connect(db)
    ids, preds = [], []
    for i, a, b, c in conn.execute("SELECT id, x1, x2, x3 FROM DATA WHERE id >= ? AND id < ?", (lo, hi)):
        ids.append(i)
        preds.append(W0 + W1 * a + W2 * b + W3 * c)
    return len(ids), sum(preds)


def main():
    db, procs = sys.argv[1], int(sys.argv[2])
    conn = sqlite3.connect(db)
    lo, hi = conn.execute("SELECT min(id), max(id) + 1 FROM DATA").fetchone()
    step = (hi - lo + procs - 1) // procs
    parts = [(db, lo + k * step, min(hi, lo + (k + 1) * step)) for k in range(procs)]
    if procs == 1:
        results = [score_range(parts[0])]
    else:
        with Pool(procs) as pool:
            results = pool.map(score_range, parts)
    print(json.dumps({"rows": sum(r[0] for r in results), "checksum": sum(r[1] for r in results)}))


if __name__ == "__main__":
    main()
