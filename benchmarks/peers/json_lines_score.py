"""Subprocess-JSON peer: a python3 child reading JSON lines [id, x1, x2, x3] on stdin and writing
JSON lines [id, prediction] on stdout, as a Node service piping work to Python would. Standard library only.
"""
import json
import sys

W0, W1, W2, W3 = 0.5, 1.5, -2.0, 0.25

out = sys.stdout
for line in sys.stdin:
    i, a, b, c = json.loads(line)
    out.write(json.dumps([i, W0 + W1 * a + W2 * b + W3 * c]))
    out.write("\n")
out.flush()
