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
