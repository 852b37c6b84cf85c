"""Runs one UDF call inside the worker's interpreter: compile (cached), pick the function, build the
input, call it with stdout/stderr captured, and convert the result for the host.

Everything returned to the host is a plain dict; errors are dicts with a stable ``code``.
"""

import ast
import builtins
import importlib.util
import json
import linecache
import math
import sys
import traceback

from . import _convert, _images, _limits
from ._capture import CappedOutput
from .errors import InsituError
from .frame import Frame

_CACHE = {}
_CACHE_MAX = 128
_PANDAS = None
_NAMESPACE = None
# Limits a task carries (see WorkerLimits); these apply when it carries none.
_DEFAULT_MAX_OUTPUT_BYTES = 4 * 2**20
_DEFAULT_MAX_RESULT_BYTES = 256 * 2**20


def current_namespace():
    """The globals of the UDF call running now (None between calls)."""
    return _NAMESPACE


def _filename(name):
    return f"<script {name}>"


class TaskError(Exception):
    """An error to report to the host with a stable code."""

    def __init__(self, code, message, **details):
        super().__init__(message)
        self.code = code
        self.details = details


def _compile(source, name):
    key = (name, source)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    filename = _filename(name)
    try:
        tree = ast.parse(source, filename=filename)
        code = compile(tree, filename, "exec")
    except SyntaxError as e:
        raise TaskError(
            "BAD_INPUT",
            f"script {name} does not compile: {e.msg} (line {e.lineno})",
            line=e.lineno,
            script=name,
            pythonType=type(e).__name__,
        ) from None
    defs = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = (code, defs)
    return code, defs


def inspect(source, name):
    """Parse ``source``; return its top-level function names or the syntax error."""
    try:
        _, defs = _compile(source, name)
    except TaskError as e:
        return {"ok": False, "error": {"code": e.code, "message": str(e), **e.details}}
    return {"ok": True, "functions": defs}


def _pick(ns, defs, name, func):
    if func is not None and callable(ns.get(func)):
        return ns[func]
    if len(defs) == 1:
        return ns[defs[0]]
    found = ", ".join(defs) if defs else "no top-level def"
    want = f"a top-level function named {func} or " if func else ""
    raise TaskError("BAD_INPUT", f"script {name} must define {want}exactly one top-level function; found {found}", script=name)


def _has_pandas():
    global _PANDAS
    if _PANDAS is None:
        _PANDAS = "pandas" in sys.modules or importlib.util.find_spec("pandas") is not None
    return _PANDAS


def make_input(columns, input_type):
    """The UDF's view of a dict of columns for an input type."""
    if input_type == "columns":
        return columns
    if input_type == "records":
        names = list(columns)
        return [dict(zip(names, row)) for row in zip(*columns.values())]
    if input_type == "pandas" or (input_type == "auto" and _has_pandas()):
        try:
            import pandas
        except ImportError:
            raise TaskError(
                "PACKAGE_MISSING",
                "inputType 'pandas' needs the pandas package, which is not installed in this engine; "
                "use inputType 'frame' or load pandas into the engine",
            ) from None
        return pandas.DataFrame(columns, columns=list(columns))
    return Frame(columns)


def _json_safe(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    return v


def _json_default(v):
    import datetime

    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    if isinstance(v, (set, frozenset)):
        return sorted(v, key=repr)
    if hasattr(v, "item") and callable(v.item):  # numpy scalars
        return v.item()
    if hasattr(v, "tolist") and callable(v.tolist):  # numpy arrays
        return v.tolist()
    raise TypeError(type(v).__name__)


# Bytes inside a JSON value travel beside its text: each stands in it as {BYTES_KEY: index}.
BYTES_KEY = "\x00bytes"


def _to_json(value):
    """(JSON text, bytes blobs) of a value; bytes anywhere in it become blobs the text points at."""
    blobs = []

    def default(v):
        if isinstance(v, (bytes, bytearray, memoryview)):
            blobs.append(bytes(v))
            return {BYTES_KEY: len(blobs) - 1}
        return _json_default(v)

    try:
        try:
            return json.dumps(value, allow_nan=False, default=default), blobs
        except ValueError:
            blobs.clear()
            return json.dumps(_json_safe(value), allow_nan=False, default=default), blobs
    except TypeError as e:
        raise TaskError(
            "BAD_RESULT",
            f"the UDF returned a value holding a {e}, which cannot be sent back; return a table (Frame, "
            "DataFrame, dict of lists, list of dicts), a JSON-able value, or bytes",
        ) from None
    except (ValueError, RecursionError) as e:
        raise TaskError("BAD_RESULT", f"the UDF's return value cannot be converted to JSON: {e}") from None


_CONTAINERS = (list, tuple, dict, set, frozenset)


def _is_columns(value):
    """Whether a dict is a table: str keys, every value a list (or tuple) of scalars, all of one
    length. Any other dict of lists (ragged, or holding lists or dicts) is a JSON value."""
    if not (isinstance(value, dict) and len(value) > 0 and all(isinstance(k, str) for k in value)):
        return False
    cols = list(value.values())
    if not all(isinstance(v, (list, tuple)) for v in cols):
        return False
    n = len(cols[0])
    if any(len(v) != n for v in cols):
        return False
    return not any(issubclass(t, _CONTAINERS) for v in cols for t in set(map(type, v)))


def _is_records(value):
    return isinstance(value, list) and len(value) > 0 and all(isinstance(r, dict) for r in value)


def table_columns(value):
    """The columns (name -> list of values) of a table-like return value, or None for other values."""
    if isinstance(value, Frame):
        return value._cols
    if type(value).__name__ == "DataFrame" and hasattr(value, "to_dict") and hasattr(value, "columns"):
        return {str(c): value[c].tolist() for c in value.columns}
    if _is_columns(value):
        return value
    if _is_records(value):
        return Frame.from_records(value)._cols
    return None


def _bad_result(e):
    return TaskError("BAD_RESULT", f"the UDF's result cannot become a table: {e}")


def _max_result_bytes(task):
    return task.get("max_result_bytes", _DEFAULT_MAX_RESULT_BYTES)


def convert_result(value, limit=_DEFAULT_MAX_RESULT_BYTES):
    """The host form of a UDF's return value; RESULT_TOO_LARGE past ``limit`` bytes, found before the
    value is copied out of Python."""
    try:
        cols = table_columns(value)
        if cols is not None:
            return {"kind": "table", "columns": _convert.encode_columns(cols, limit)}
        if isinstance(value, (bytes, bytearray, memoryview)):
            _limits.check_result("bytes of length", value.nbytes if isinstance(value, memoryview) else len(value), limit)
            return {"kind": "bytes", "value": bytes(value)}
        text, blobs = _to_json(value)
        _limits.check_json(text, limit)
        if not blobs:
            return {"kind": "json", "json": text}
        _limits.check_result("JSON text and bytes of", len(text) + sum(map(len, blobs)), limit)
        return {"kind": "json", "json": text, "blobs": blobs}
    except _limits.ResultTooLarge as e:
        raise TaskError("RESULT_TOO_LARGE", str(e)) from None
    except (_convert.ResultError, ValueError) as e:
        raise _bad_result(e) from None


def _format_traceback(e, tb):
    """The traceback text, cut at MAX_ERROR_TEXT characters (so a huge exception message is not copied
    whole more than once)."""
    limit = _limits.MAX_ERROR_TEXT
    try:
        parts = []
        size = 0
        for line in traceback.TracebackException(type(e), e, tb).format():
            if size + len(line) > limit:
                parts.append(_limits.clip(line, max(0, limit - size), "traceback"))
                break
            parts.append(line)
            size += len(line)
        return "".join(parts)
    except MemoryError:
        return f"{type(e).__name__} (the traceback could not be formatted: out of memory)\n"


def _python_error(e, name):
    """A TaskError for an exception raised while running the UDF (insitu errors keep their code)."""
    filename = _filename(name)
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    line = None
    t = tb
    while t is not None:
        if t.tb_frame.f_code.co_filename == filename:
            line = t.tb_lineno
        t = t.tb_next
    text = _format_traceback(e, tb)
    message = _limits.clip(str(e), _limits.MAX_ERROR_TEXT, "message")
    msg = f"{type(e).__name__}: {message}"
    if line is not None:
        msg += f" (script {name}, line {line})"
    details = {"pythonType": type(e).__name__, "traceback": text, "script": name}
    if line is not None:
        details["line"] = line
    if isinstance(e, InsituError):
        return TaskError(e.code, message, **details)
    return TaskError("PYTHON_ERROR", msg, **details)


def _error_result(e):
    """The host form of a TaskError; its texts are cut at MAX_ERROR_TEXT characters (a message can
    quote anything, a column name or a value of the UDF's)."""
    error = {"code": e.code, "message": _limits.clip(str(e), _limits.MAX_ERROR_TEXT, "message"), **e.details}
    if isinstance(error.get("traceback"), str):
        error["traceback"] = _limits.clip(error["traceback"], _limits.MAX_ERROR_TEXT, "traceback")
    return {"ok": False, "error": error}


def _call(code, defs, task, kwargs, columns_in, positional=()):
    """Run the UDF once in a fresh namespace with stdout/stderr captured (each up to the task's
    ``max_output_bytes``). Returns (value, stdout, stderr, images); raises TaskError (its stdout so far
    in ``details``)."""
    global _NAMESPACE
    name = task["name"]
    ns = {"__name__": "__insitu_udf__", "__builtins__": builtins, "__insitu_source__": task["source"]}
    cap = task.get("max_output_bytes", _DEFAULT_MAX_OUTPUT_BYTES)
    out = CappedOutput("stdout", cap)
    err = CappedOutput("stderr", cap)
    saved = sys.stdout, sys.stderr
    _NAMESPACE = ns
    sys.stdout, sys.stderr = out, err
    images = None
    _images.begin()
    try:
        try:
            exec(code, ns)
            fn = _pick(ns, defs, name, task.get("func"))
            kind = task["input_kind"]
            if kind == "data":
                value = fn(make_input(_ordered(columns_in, task), task["input_type"]), *positional, **kwargs)
            elif kind == "index":
                value = fn(task["index"], *positional, **kwargs)
            else:
                value = fn(*positional, **kwargs)
            images = _images.end(task.get("graphics", False))
        except TaskError:
            raise
        except BaseException as e:  # noqa: BLE001 - every UDF failure (SystemExit too) is reported
            raise _python_error(e, name) from None
    except TaskError as e:
        stdout = out.getvalue()
        if stdout:
            e.details["stdout"] = stdout
        raise
    finally:
        if images is None:
            _images.discard()
        sys.stdout, sys.stderr = saved
        _NAMESPACE = None
    return value, out.getvalue(), err.getvalue(), images


def _check_images(images, limit):
    """RESULT_TOO_LARGE when a partition's images alone (bytes and titles) take more than ``limit`` bytes."""
    size = 0
    for im in images:
        png, title = im.get("png"), im.get("title")
        size += (len(png) if isinstance(png, (bytes, bytearray)) else 0) + (len(title) if isinstance(title, str) else 0)
    if size > limit:
        raise TaskError("RESULT_TOO_LARGE", _limits.too_large_message("PNG images (with their titles) of", size, limit))


def _sort_key(v):
    # NULL first, then numbers, then text, then bytes: SQLite's order of storage classes.
    if v is None:
        return (0, 0)
    if isinstance(v, (bool, int, float)):
        return (1, v)
    if isinstance(v, str):
        return (2, v)
    if isinstance(v, (bytes, bytearray)):
        return (3, bytes(v))
    return (2, str(v))


def _ordered(columns, task):
    """``columns`` with their rows in the task's ``order_json`` order (stable sorts, last key first, so
    earlier keys win; NULL first ascending and last descending, as SQLite orders them)."""
    order = json.loads(task.get("order_json") or "[]")
    if not order or not columns:
        return columns
    n = len(next(iter(columns.values())))
    idx = list(range(n))
    for name, descending in reversed(order):
        col = columns[name]
        idx.sort(key=lambda i: _sort_key(col[i]), reverse=bool(descending))
    return {name: [values[i] for i in idx] for name, values in columns.items()}


def _positional(task):
    """The task's positional arguments (a list; none when the host sent none)."""
    return json.loads(task.get("positional_json") or "[]")


def run(task, columns_in):
    """Run one task. ``task``: dict with source, name, func, input_kind, input_type, index, args_json,
    positional_json (a JSON array: arguments after the input, before the keyword ones).
    ``columns_in``: ordered dict of column name -> values for data input, else None."""
    try:
        code, defs = _compile(task["source"], task["name"])
        value, stdout, stderr, images = _call(code, defs, task, json.loads(task["args_json"]), columns_in, _positional(task))
        _check_images(images, _max_result_bytes(task))
        result = convert_result(value, _max_result_bytes(task))
        result["images"] = images
        result["ok"] = True
        result["stdout"] = stdout
        result["stderr"] = stderr
        return result
    except TaskError as e:
        return _error_result(e)


def run_groups(task, groups):
    """Run one task once per group, in order, stopping at the first failing group. ``groups`` yields
    each group's columns (ordered dict of name -> values).

    Returns ``{"results": [...], "stacked": encoded columns or None}``: a result per group run, each
    ``{"ok": True, "stdout", "stderr"}`` plus either ``"rows": [offset, length]`` (the group's table is
    those rows of ``stacked``: every table result, one after the other) or a ``kind`` and value as
    :func:`convert_result` gives; or ``{"ok": False, "error"}`` for the failing group.
    """
    results = []
    tables = []  # (result index, columns)
    limit = _max_result_bytes(task)
    try:
        code, defs = _compile(task["source"], task["name"])
        kwargs = json.loads(task["args_json"])
        positional = _positional(task)
    except TaskError as e:
        return {"results": [_error_result(e)], "stacked": None}
    for columns_in in groups:
        try:
            value, stdout, stderr, images = _call(code, defs, task, kwargs, columns_in, positional)
            _check_images(images, limit)
            cols = table_columns(value)
            if cols is None:
                result = convert_result(value, limit)
            else:
                result = {}
                tables.append((len(results), cols))
            result.update(ok=True, stdout=stdout, stderr=stderr, images=images)
            results.append(result)
        except TaskError as e:
            results.append(_error_result(e))
            break
        except (_convert.ResultError, ValueError) as e:
            results.append(_error_result(_bad_result(e)))
            break
    return {"results": results, "stacked": _stack(results, tables, limit)}


def _stack(results, tables, limit):
    """Encode the groups' table results as one table, filling in ``rows``, when each group's table alone
    would have the same columns and kinds (so the result does not depend on which groups share a call);
    otherwise encode each on its own. A group whose table cannot be encoded, or takes more than ``limit``
    bytes, fails and ends the list."""
    if not tables:
        return None
    names = list(tables[0][1])
    try:
        kinds = _convert.column_kinds(tables[0][1])
        stackable = bool(names) and all(
            list(cols) == names and len({len(v) for v in cols.values()}) == 1 and _convert.column_kinds(cols) == kinds
            for _, cols in tables
        )
        stacked = _convert.encode_columns({n: [v for _, cols in tables for v in cols[n]] for n in names}) if stackable else None
    except (_convert.ResultError, ValueError, TypeError):
        stacked = None  # kinds that do not combine (or a bad table): encode group by group
    if stacked is not None:
        at = 0
        for k, (i, cols) in enumerate(tables):
            n = len(cols[names[0]])
            size = _convert.span_bytes(stacked, at, n) + sum(map(len, names))
            if size > limit:
                # This group's table alone is too large: it fails, and the groups before it are stacked without it.
                message = _limits.too_large_message("a table whose columns take", size, limit)
                results[i] = _error_result(TaskError("RESULT_TOO_LARGE", message))
                del results[i + 1:]
                return _stack(results, tables[:k], limit)
            results[i]["rows"] = [at, n]
            at += n
        return stacked
    for i, cols in tables:
        try:
            results[i].update(kind="table", columns=_convert.encode_columns(cols, limit))
        except _limits.ResultTooLarge as e:
            results[i] = _error_result(TaskError("RESULT_TOO_LARGE", str(e)))
            del results[i + 1:]
            break
        except (_convert.ResultError, ValueError) as e:
            results[i] = _error_result(_bad_result(e))
            del results[i + 1:]
            break
    return None


def _failed_outside_udf(e):
    """The host form of a failure of the runner itself rather than the UDF (MemoryError while converting
    a result, say), its text cut short."""
    why = _limits.clip(str(e), _limits.MAX_ERROR_TEXT, "message")
    return {"ok": False, "error": {"code": "RUNTIME_ERROR", "message": f"the Python runtime failed outside the UDF: {type(e).__name__}: {why}"}}


def run_wire(task, columns):
    """Entry point from the worker's JS: ``task`` and ``columns`` are JS objects (see arrow-columns.ts)."""
    try:
        task = task.to_py()
        cols = None
        if columns is not None:
            cols = {}
            for c in columns.to_py():
                cols[c["name"]] = _convert.column_values(c["kind"], c["chunks"])
        return run(task, cols)
    except Exception as e:  # noqa: BLE001 - answered as an error whose text cannot be huge
        return _failed_outside_udf(e)


def run_groups_wire(task, columns, group_chunks):
    """Entry point from the worker's JS for groups: ``columns`` hold the groups' rows one after the
    other, as chunks; group i is the next ``group_chunks[i]`` chunks of every column."""
    task = task.to_py()
    counts = group_chunks.to_py()
    per_column = [(c["name"], [_convert.chunk_column(c["kind"], ch) for ch in c["chunks"]]) for c in columns.to_py()]

    def groups():
        at = 0
        for n in counts:
            if n == 1:
                yield {name: chunks[at] for name, chunks in per_column}
            else:
                yield {name: [v for ch in chunks[at:at + n] for v in ch] for name, chunks in per_column}
            at += n

    try:
        return run_groups(task, groups())
    except Exception as e:  # noqa: BLE001 - answered as an error whose text cannot be huge
        return _failed_outside_udf(e)
