// What keeping interpreters per user costs: a worker serves one user, and before it serves another it
// is replaced by a clean one (a new worker thread restoring the start-up snapshot). Every call here
// runs INTERPRETER_TOKEN, whose answer tells which interpreter served it, so each measurement also
// checks that a switch did replace the worker and that a same-user call did not.
import { INTERPRETER_TOKEN } from './workloads.mjs';

async function timedToken(session) {
  const t = performance.now();
  const r = await session.doEval({ source: INTERPRETER_TOKEN });
  return { ms: performance.now() - t, token: r.value };
}

/**
 * One switch on a 1-worker engine (`engine`), as a round of the switch measurement: a call by the
 * user the worker serves now (no switch), then a call by the other user (the worker is replaced).
 * `state` holds the two users' sessions, whose turn it is and the last token; the round appends to
 * `out` ({ same: [], switched: [], wrong: 0 }).
 */
export async function switchRound(engine, state, out) {
  if (state.sessions === undefined) {
    state.sessions = [engine.session({ user: 'user-a' }), engine.session({ user: 'user-b' })];
    state.turn = 0;
    // The worker serves user-a from here on; warm both sides' call paths.
    for (let i = 0; i < 5; i++) state.token = (await timedToken(state.sessions[0])).token;
  }
  const same = await timedToken(state.sessions[state.turn]);
  if (same.token !== state.token) out.wrong++;
  out.same.push(same.ms);
  state.turn = 1 - state.turn;
  const switched = await timedToken(state.sessions[state.turn]);
  if (switched.token === same.token) out.wrong++;
  out.switched.push(switched.ms);
  state.token = switched.token;
}

/**
 * `n` calls, started at once, of `users` in turn (call i by users[i % users.length]) on `engine`;
 * the elapsed time, and how many interpreters served them that had not served a call of this engine before.
 */
export async function concurrentCalls(engine, users, n, seen) {
  const sessions = users.map((user) => engine.session({ user }));
  const t = performance.now();
  const tokens = await Promise.all(Array.from({ length: n }, (_, i) => sessions[i % sessions.length].doEval({ source: INTERPRETER_TOKEN }).then((r) => r.value)));
  const ms = performance.now() - t;
  let fresh = 0;
  for (const token of new Set(tokens)) {
    if (!seen.has(token)) fresh++;
    seen.add(token);
  }
  return { ms, calls: n, callsPerSecond: (n / ms) * 1000, newInterpreters: fresh };
}
