// The UDFs the benchmarks run through insitu, and the native peers they are compared with.
export const SCORE = `
def score(df, w0=0.5, w1=1.5, w2=-2.0, w3=0.25):
    return {"id": df["id"], "pred": [w0 + w1 * a + w2 * b + w3 * c for a, b, c in zip(df["x1"], df["x2"], df["x3"])]}
`;

export const FIT = `
def fit(df):
    xs, ys = df["x1"], df["y"]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    return {"slope": [slope], "intercept": [my - slope * mx], "n": [n]}
`;

export const TRIVIAL = 'def f():\n    return 1';

/**
 * A trivial UDF answering with a token of the interpreter that ran it: random, made on its first call
 * and kept in a module of that interpreter, so two calls answer alike exactly when one interpreter
 * served both (the start-up snapshot is made before the token, so clean interpreters differ).
 */
export const INTERPRETER_TOKEN = `
def f():
    import sys
    m = sys.modules.get("_bench_interpreter")
    if m is None:
        import os, types
        m = types.ModuleType("_bench_interpreter")
        m.token = os.urandom(8).hex()
        sys.modules["_bench_interpreter"] = m
    return m.token
`;
