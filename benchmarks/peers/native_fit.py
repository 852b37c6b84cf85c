"""Native CPython peer for the fit workload: per-group least squares y ~ x1, in N processes.

Usage: native_fit.py DB PROCESSES -> prints JSON {groups, rows, checksum}. Standard library only.
"""
import json
import sqlite3
import sys
from multiprocessing import Pool


def fit(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    return slope, my - slope * mx, n


def fit_groups(args):
    db, lo, hi = args
    conn = sqlite3.connect(db)
    out = []
    cur_grp, xs, ys = None, [], []
    for g, x, y in conn.execute("SELECT grp, x1, y FROM DATA WHERE grp >= ? AND grp < ? ORDER BY grp", (lo, hi)):
        if g != cur_grp and xs:
            out.append((cur_grp, *fit(xs, ys)))
            xs, ys = [], []
        cur_grp = g
        xs.append(x)
        ys.append(y)
    if xs:
        out.append((cur_grp, *fit(xs, ys)))
    return out


def main():
    db, procs = sys.argv[1], int(sys.argv[2])
    conn = sqlite3.connect(db)
    lo, hi = conn.execute("SELECT min(grp), max(grp) + 1 FROM DATA").fetchone()
    step = (hi - lo + procs - 1) // procs
    parts = [(db, lo + k * step, min(hi, lo + (k + 1) * step)) for k in range(procs)]
    if procs == 1:
        results = [fit_groups(parts[0])]
    else:
        with Pool(procs) as pool:
            results = pool.map(fit_groups, parts)
    rows = [r for part in results for r in part]
    print(json.dumps({"groups": len(rows), "rows": sum(r[3] for r in rows), "checksum": sum(r[1] for r in rows)}))


if __name__ == "__main__":
    main()
