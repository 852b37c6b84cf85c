// Load generator for benchmarks/rest.mjs, run as a child process so that it does not share the
// server's event loop: autocannon against one URL, printing its result as one JSON line.
import autocannon from 'autocannon';

const { url, token, body, connections, duration } = JSON.parse(process.argv[2]);
const result = await autocannon({
  url,
  method: 'POST',
  connections,
  duration,
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  body,
});
process.stdout.write(
  JSON.stringify({
    requests: result.requests.total,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  }) + '\n',
);
