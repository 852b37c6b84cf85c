// The budget for the stronger sandbox (bubblewrap around the sandbox process) against the
// sandbox process alone, and whether one run's figures meet it.

/** What bubblewrap may add, per the issue: cold start, warm doEval p50, and score throughput lost. */
export const BUDGET = { coldStartMs: 100, warmP50Ms: 0.1, scoreLoss: 0.1 };

/**
 * Rows comparing the modes: `figures[mode]` holds { coldFirstMs, coldBothMs, p50Ms, p99Ms, scoreRowsPerS }
 * for the modes 'bubblewrap', 'none' and 'thread'. Each row gives the three figures, the cost of
 * bubblewrap against 'none' (a difference, or for throughput the fraction lost), the budget where the
 * issue sets one, and whether it is met.
 */
export function sandboxBudget(figures) {
  const { bubblewrap: b, none: n, thread: t } = figures;
  const diff = (key, unit, budget) => ({ thread: t[key], none: n[key], bubblewrap: b[key], unit, cost: b[key] - n[key], costUnit: unit, budget, met: budget === undefined ? undefined : b[key] - n[key] <= budget });
  const lost = (n.scoreRowsPerS - b.scoreRowsPerS) / n.scoreRowsPerS;
  return [
    { measure: 'cold start: createEngine -> first result', ...diff('coldFirstMs', 'ms', BUDGET.coldStartMs) },
    { measure: 'cold start: createEngine -> both workers answered', ...diff('coldBothMs', 'ms', BUDGET.coldStartMs) },
    { measure: 'warm doEval p50', ...diff('p50Ms', 'ms', BUDGET.warmP50Ms) },
    { measure: 'warm doEval p99', ...diff('p99Ms', 'ms', undefined) },
    {
      measure: 'score throughput, 2 workers',
      thread: t.scoreRowsPerS,
      none: n.scoreRowsPerS,
      bubblewrap: b.scoreRowsPerS,
      unit: 'rows/s',
      cost: lost,
      costUnit: 'lost',
      budget: BUDGET.scoreLoss,
      met: lost <= BUDGET.scoreLoss,
    },
  ];
}

/** The rows of {@link sandboxBudget} as a Markdown table. */
export function budgetTable(rows) {
  const num = (v, unit) => (unit === 'rows/s' ? `${(v / 1e6).toFixed(3)} M rows/s` : `${v.toFixed(unit === 'ms' && Math.abs(v) < 10 ? 2 : 0)} ms`);
  const cost = (r) => (r.costUnit === 'lost' ? `${(r.cost * 100).toFixed(1)}% ${r.cost >= 0 ? 'less' : 'more (none lost)'}` : `${r.cost >= 0 ? '+' : ''}${r.cost.toFixed(Math.abs(r.cost) < 10 ? 2 : 0)} ms`);
  const budget = (r) => (r.budget === undefined ? '—' : r.costUnit === 'lost' ? `≤ ${r.budget * 100}% less` : `≤ +${r.budget} ms`);
  const lines = ['| measure | thread | process, no OS sandbox | process, bubblewrap | bubblewrap − no OS sandbox | budget | met |', '|---|---|---|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.measure} | ${num(r.thread, r.unit)} | ${num(r.none, r.unit)} | ${num(r.bubblewrap, r.unit)} | ${cost(r)} | ${budget(r)} | ${r.met === undefined ? '—' : r.met ? 'yes' : '**no**'} |`);
  return lines.join('\n');
}
