// The budget for the stronger sandbox (bubblewrap around the sandbox process) against the
// sandbox process alone, and whether one run's figures meet it, or cannot tell.

/** What bubblewrap may add, per the issue: cold start, warm doEval p50, and score throughput lost. */
export const BUDGET = { coldStartMs: 100, warmP50Ms: 0.1, scoreLoss: 0.1 };

const spreadOf = (xs) => (xs === undefined || xs.length < 2 ? undefined : Math.max(...xs) - Math.min(...xs));
/** The larger spread (max − min) of the repeated measurements of the two modes compared, if both have some. */
const noiseOf = (a, b) => {
  const sa = spreadOf(a);
  const sb = spreadOf(b);
  return sa === undefined || sb === undefined ? undefined : Math.max(sa, sb);
};

/**
 * Rows comparing the modes. `figures[mode]` (modes 'bubblewrap', 'none', 'thread') holds the figures
 * { createEngineMs, coldFirstMs, coldBothMs, p50Ms, p99Ms, scoreRowsPerS } and, in `runs`, the repeated
 * measurements behind them where there are some: { createEngineMs, coldFirstMs, coldBothMs: [ms...],
 * p50Ms: [p50 of each block of calls], scoreMs: [ms of each score run] }. Each row gives the three
 * figures, the cost of bubblewrap against 'none' (a difference, or for throughput the fraction lost),
 * the noise (the larger spread between repeated measurements of one mode, for throughput relative to
 * the slowest run), the budget where the issue sets one, and whether it is met; `resolved` is false
 * when the noise is larger than the budget, so that this run cannot tell.
 */
export function sandboxBudget(figures) {
  const { bubblewrap: b, none: n, thread: t } = figures;
  const row = (measure, key, budget) => {
    const cost = b[key] - n[key];
    const noise = noiseOf(b.runs?.[key], n.runs?.[key]);
    return { measure, thread: t[key], none: n[key], bubblewrap: b[key], unit: 'ms', cost, costUnit: 'ms', noise, budget, met: budget === undefined ? undefined : cost <= budget, resolved: budget === undefined || noise === undefined ? undefined : noise <= budget };
  };
  const lost = (n.scoreRowsPerS - b.scoreRowsPerS) / n.scoreRowsPerS;
  const relative = (ms) => (ms === undefined || ms.length < 2 ? undefined : (Math.max(...ms) - Math.min(...ms)) / Math.max(...ms));
  const rb = relative(b.runs?.scoreMs);
  const rn = relative(n.runs?.scoreMs);
  const scoreNoise = rb === undefined || rn === undefined ? undefined : Math.max(rb, rn);
  return [
    // The part of the cold start spent before createEngine returns (bubblewrap's mount plan is made there).
    row('cold start: the createEngine call itself', 'createEngineMs', undefined),
    row('cold start: createEngine -> first result', 'coldFirstMs', BUDGET.coldStartMs),
    row('cold start: createEngine -> both workers answered', 'coldBothMs', BUDGET.coldStartMs),
    row('warm doEval p50', 'p50Ms', BUDGET.warmP50Ms),
    row('warm doEval p99', 'p99Ms', undefined),
    {
      measure: 'score throughput, 2 workers',
      thread: t.scoreRowsPerS,
      none: n.scoreRowsPerS,
      bubblewrap: b.scoreRowsPerS,
      unit: 'rows/s',
      cost: lost,
      costUnit: 'lost',
      noise: scoreNoise,
      budget: BUDGET.scoreLoss,
      met: lost <= BUDGET.scoreLoss,
      resolved: scoreNoise === undefined ? undefined : scoreNoise <= BUDGET.scoreLoss,
    },
  ];
}

/** The rows of {@link sandboxBudget} as a Markdown table. */
export function budgetTable(rows) {
  const ms = (v) => `${v.toFixed(Math.abs(v) < 10 ? 2 : 0)} ms`;
  const num = (v, unit) => (unit === 'rows/s' ? `${(v / 1e6).toFixed(3)} M rows/s` : ms(v));
  const cost = (r) => (r.costUnit === 'lost' ? `${(Math.abs(r.cost) * 100).toFixed(1)}% ${r.cost >= 0 ? 'less' : 'more'}` : `${r.cost >= 0 ? '+' : '−'}${ms(Math.abs(r.cost))}`);
  const noise = (r) => (r.noise === undefined ? '—' : r.costUnit === 'lost' ? `${(r.noise * 100).toFixed(0)}%` : ms(r.noise));
  const budget = (r) => (r.budget === undefined ? '—' : r.costUnit === 'lost' ? `≤ ${r.budget * 100}% less` : `≤ +${r.budget} ms`);
  const met = (r) => (r.met === undefined ? '—' : `${r.met ? 'yes' : '**no**'}${r.resolved === false ? ' (noise > budget: not resolved)' : ''}`);
  const lines = [
    '| measure | thread | process, no OS sandbox | process, bubblewrap | bubblewrap − no OS sandbox | noise (spread within a mode) | budget | met |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) lines.push(`| ${r.measure} | ${num(r.thread, r.unit)} | ${num(r.none, r.unit)} | ${num(r.bubblewrap, r.unit)} | ${cost(r)} | ${noise(r)} | ${budget(r)} | ${met(r)} |`);
  return lines.join('\n');
}
