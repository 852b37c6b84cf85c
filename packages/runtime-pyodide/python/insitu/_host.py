"""The bridge from Python to the engine (datastores) and to the worker's database connection.

``_insitu_host`` is a JS module the worker registers; every function in it answers with a dict that
has ``ok`` and either the result or an ``error``.
"""

import json

from ._limits import JS_MAX_STRING, format_bytes
from .errors import InsituError, from_host


def _bridge():
    try:
        import _insitu_host
    except ImportError:
        raise InsituError("RUNTIME_ERROR", "insitu engine services are only available inside a UDF run by the engine") from None
    return _insitu_host


def _text(text, what):
    """``text`` when JavaScript can hold it as one string; BAD_INPUT otherwise (it could not cross)."""
    if len(text) > JS_MAX_STRING:
        raise InsituError("BAD_INPUT", f"{what} is {format_bytes(len(text))} long, more than the engine can take as text")
    return text


def _unwrap(res):
    res = res.to_py() if hasattr(res, "to_py") else res
    if not res.get("ok"):
        raise from_host(res.get("error") or {})
    return res


def call(op, args, blobs=()):
    """Call an engine service: returns (decoded JSON result, list of bytes blobs or column dicts)."""
    res = _unwrap(_bridge().ds(op, _text(json.dumps(args), "the request"), list(blobs)))
    text = res.get("json")
    value = json.loads(text) if isinstance(text, str) else None
    blobs = res.get("blobs")
    return value, blobs if isinstance(blobs, list) else []


def query(sql, params):
    """Rows of a read-only query on the worker's own connection, as wire columns."""
    return _unwrap(_bridge().query(_text(sql, "the SQL"), _text(json.dumps(params), "the parameters")))["columns"]


def execute(sql, params):
    """Run one statement on the worker's own connection; rows changed."""
    return _unwrap(_bridge().execute(_text(sql, "the SQL"), _text(json.dumps(params), "the parameters")))["changes"]
