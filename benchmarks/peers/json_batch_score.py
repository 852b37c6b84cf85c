"""Batched subprocess-JSON peer: a python3 child reading one JSON line per chunk on stdin, the chunk's
feature columns as [[x1...], [x2...], [x3...]], and replying one JSON line per chunk on stdout, the
chunk's predictions [p...] in the same order, as a Node service batching work to Python would.
Standard library only.
"""
import json
import os
import socket
import sys

W0, W1, W2, W3 = 0.5, 1.5, -2.0, 0.25


def widen_stdout():
    """Node's stdio pipes are socket pairs with ~200 KB of send buffer: a reply of ~2 MB would block
    this process until Node, busy reading its next chunk, drains it. A send buffer larger than a reply
    (the kernel caps it at net.core.wmem_max) lets it go on to the next chunk at once."""
    try:
        with socket.socket(fileno=os.dup(sys.stdout.fileno())) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    except OSError:
        pass  # not a socket (a real pipe or a file): nothing to widen


def main():
    widen_stdout()
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        x1, x2, x3 = json.loads(line)
        preds = [W0 + W1 * a + W2 * b + W3 * c for a, b, c in zip(x1, x2, x3)]
        out.write(json.dumps(preds).encode())
        out.write(b"\n")
        # The parent waits for this reply before it counts the chunk as done: send it now.
        out.flush()


if __name__ == "__main__":
    main()
