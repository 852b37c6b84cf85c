// Peak memory of a process and everything it started. The sandbox process runs under bubblewrap by
// default: the engine's child is then bwrap, and the Node process holding the workers is one of its
// descendants, so peaks are summed over the whole tree rather than read from the child alone.
import { readFileSync, readdirSync } from 'node:fs';

/** Parent pid of every process visible in /proc. */
function parents() {
  const out = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // The command name (2nd field) is in parentheses and may hold spaces: parse after the last ')'.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      out.set(Number(name), ppid);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** `pid` and its descendants. */
export function processTree(pid) {
  const ppids = parents();
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [p, pp] of ppids) if (pp === tree[i]) tree.push(p);
  return tree;
}

/** Peak resident memory (VmHWM) of each process in the tree of `pid`, in MB, by pid with its command name. */
export function peakRssTree(pid) {
  const out = [];
  for (const p of processTree(pid)) {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
      out.push({ pid: p, name: /Name:\s+(\S+)/.exec(status)?.[1] ?? '?', peakMb: hwm === null ? 0 : Number(hwm[1]) / 1024 });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}
