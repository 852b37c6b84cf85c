"""Native CPython peer for the fit workload: per-group least squares y ~ x1, in N processes.

Usage: native_fit.py DB PROCESSES [GROUP_COLUMN] -> prints JSON {groups, rows, checksum}. Standard library
only. GROUP_COLUMN is grp (1000 groups, the default) or sub (10,000 groups).
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
    db, lo, hi, key = args
    conn = sqlite3.connect(db)
    out = []
    cur_grp, xs, ys = None, [], []
    for g, x, y in conn.execute(f"SELECT {key}, x1, y FROM DATA WHERE {key} >= ? AND {key} < ? ORDER BY {key}", (lo, hi)):
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
    key = sys.argv[3] if len(sys.argv) > 3 else "grp"
    if key not in ("grp", "sub"):
        sys.exit(f"group column must be grp or sub, not {key}")
    conn = sqlite3.connect(db)
    lo, hi = conn.execute(f"SELECT min({key}), max({key}) + 1 FROM DATA").fetchone()
    step = (hi - lo + procs - 1) // procs
    parts = [(db, lo + k * step, min(hi, lo + (k + 1) * step), key) for k in range(procs)]
    if procs == 1:
        results = [fit_groups(parts[0])]
    else:
        with Pool(procs) as pool:
            results = pool.map(fit_groups, parts)
    rows = [r for part in results for r in part]
    print(json.dumps({"groups": len(rows), "rows": sum(r[3] for r in rows), "checksum": sum(r[1] for r in rows)}))


if __name__ == "__main__":
    main()
