"""Columns between Arrow buffers (from the host) and Python values, both ways.

Input: per column a list of chunks, each with ``length``, ``data`` (values buffer), ``offsets``
(int32, variable-width kinds) and ``validity`` (bitmap or None). Output: the same layout, built with
``array`` so that numbers never pass one by one through the JS bridge.
"""

import datetime
import numbers
from array import array
from itertools import accumulate

from . import _limits

_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_EPOCH = datetime.datetime(1970, 1, 1)
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class ResultError(Exception):
    """The UDF's return value cannot be converted (reported as BAD_RESULT)."""


# ---- host -> Python -------------------------------------------------------------------------------

def _bits(buf, n):
    return [bool((buf[i >> 3] >> (i & 7)) & 1) for i in range(n)]


def _chunk_values(kind, n, data, offsets):
    if kind == "float64":
        return memoryview(data).cast("d").tolist()
    if kind == "int64":
        return memoryview(data).cast("q").tolist()
    if kind == "int32":
        return memoryview(data).cast("i").tolist()
    if kind == "bool":
        return _bits(data, n)
    if kind == "utf8":
        offs = memoryview(offsets).cast("i").tolist()
        text = bytes(data)
        try:
            decoded = text.decode("ascii")
            return [decoded[offs[i]:offs[i + 1]] for i in range(n)]
        except UnicodeDecodeError:
            return [text[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    if kind == "binary":
        offs = memoryview(offsets).cast("i").tolist()
        raw = bytes(data)
        return [raw[offs[i]:offs[i + 1]] for i in range(n)]
    if kind == "date":
        fo = datetime.date.fromordinal
        return [fo(_EPOCH_ORDINAL + d) for d in memoryview(data).cast("i").tolist()]
    if kind == "timestamp":
        td = datetime.timedelta
        return [_EPOCH + td(milliseconds=ms) for ms in memoryview(data).cast("q").tolist()]
    if kind == "null":
        return [None] * n
    raise ValueError(f"unsupported column kind {kind}")


def column_values(kind, chunks):
    """The Python values of one column from its chunks (nulls as None)."""
    if len(chunks) == 1:
        return chunk_column(kind, chunks[0])
    out = []
    for ch in chunks:
        out.extend(chunk_column(kind, ch))
    return out


def chunk_column(kind, ch):
    """The Python values of one chunk of a column (nulls as None)."""
    n = ch["length"]
    validity = ch.get("validity")
    if kind == "null":
        return [None] * n
    values = _chunk_values(kind, n, ch.get("data"), ch.get("offsets")) if n else []
    if validity is not None:
        valid = _bits(validity, n)
        values = [v if ok else None for v, ok in zip(values, valid)]
    return values


# ---- Python -> host -------------------------------------------------------------------------------

_SIMPLE_KINDS = {int: "int64", float: "float64", str: "utf8", bool: "bool", bytes: "binary"}


def _kind_of(name, values):
    """The column kind of a list of values (None allowed), checked at C speed for the common types."""
    types = set(map(type, values))
    types.discard(type(None))
    if not types:
        return "null"
    if len(types) == 1:
        kind = _SIMPLE_KINDS.get(next(iter(types)))
        if kind is not None:
            return kind
    if types <= {int, float}:
        return "float64"
    kind = None
    for t in types:
        v = next(x for x in values if type(x) is t)
        if issubclass(t, bool) or t.__name__ == "bool_":
            k = "bool"
        elif isinstance(v, numbers.Integral):
            k = "int64"
        elif isinstance(v, numbers.Real):
            k = "float64"
        elif issubclass(t, str):
            k = "utf8"
        elif issubclass(t, (bytes, bytearray, memoryview)):
            k = "binary"
        elif issubclass(t, datetime.datetime):
            k = "timestamp"
        elif issubclass(t, datetime.date):
            k = "date"
        else:
            raise ResultError(
                f"column {name!r} holds a {t.__name__}; table cells must be None, bool, int, float, "
                "str, bytes, datetime.date or datetime.datetime"
            )
        if kind is None or kind == k:
            kind = k
        elif {kind, k} == {"int64", "float64"}:
            kind = "float64"
        else:
            raise ResultError(f"column {name!r} mixes {kind} and {k} values; give every row the same type")
    return kind


def _validity(values):
    if None not in values:
        return None
    bits = bytearray((len(values) + 7) // 8)
    for i, v in enumerate(values):
        if v is not None:
            bits[i >> 3] |= 1 << (i & 7)
    return bytes(bits)


def _without_none(values, fill):
    return values if None not in values else [fill if v is None else v for v in values]


def _encode(name, kind, values):
    n = len(values)
    offsets = None
    validity = _validity(values)
    if kind == "float64":
        data = array("d", _without_none(values, 0.0)).tobytes()
    elif kind == "int64":
        try:
            data = array("q", _without_none(values, 0)).tobytes()
        except (OverflowError, TypeError):
            ints = [0 if v is None else int(v) for v in values]
            for v in ints:
                if v < _INT64_MIN or v > _INT64_MAX:
                    raise ResultError(f"column {name!r} holds {v}, which does not fit in a 64-bit integer") from None
            data = array("q", ints).tobytes()
    elif kind == "bool":
        bits = bytearray((n + 7) // 8)
        for i, v in enumerate(values):
            if v:
                bits[i >> 3] |= 1 << (i & 7)
        data = bytes(bits)
    elif kind in ("utf8", "binary"):
        if kind == "utf8":
            parts = [b"" if v is None else v.encode("utf-8") for v in values]
        else:
            parts = [b"" if v is None else bytes(v) for v in values]
        offs = array("i", [0])
        offs.extend(accumulate(map(len, parts)))
        data = b"".join(parts)
        offsets = offs.tobytes()
    elif kind == "date":
        data = array("i", [0 if v is None else v.toordinal() - _EPOCH_ORDINAL for v in values]).tobytes()
    elif kind == "timestamp":
        ms = datetime.timedelta(milliseconds=1)
        utc = datetime.timezone.utc

        def to_ms(v):
            if v is None:
                return 0
            if v.tzinfo is not None:
                v = v.astimezone(utc).replace(tzinfo=None)
            return int((v - _EPOCH) / ms)

        data = array("q", [to_ms(v) for v in values]).tobytes()
    else:  # null
        data = b""
    return {"name": name, "kind": kind, "length": n, "data": data, "offsets": offsets, "validity": validity}


def _encode_fast(name, values):
    """One pass for the common case: a column of only floats or only ints (no None). array() checks the
    values itself; anything else (None, mixed types, huge ints) returns None for the full path."""
    if not values:
        return None
    first = type(values[0])
    try:
        if first is float:
            data = array("d", values).tobytes()
            kind = "float64"
        elif first is int:
            data = array("q", values).tobytes()
            kind = "int64"
        else:
            return None
    except (TypeError, OverflowError):
        return None
    return {"name": name, "kind": kind, "length": len(values), "data": data, "offsets": None, "validity": None}


def column_kinds(columns):
    """The kind each column of a table result would be encoded as (see ``encode_columns``)."""
    return tuple(_kind_of(name, values) for name, values in columns.items())


def _buffer_bytes(column):
    """Bytes of an encoded column: its buffers, and its name (which crosses to the host as text)."""
    return len(column["name"]) + sum(len(column[k]) for k in ("data", "offsets", "validity") if column[k] is not None)


def encode_columns(columns, limit=None):
    """Encode an ordered dict of column name -> list of values for the host (checks equal length). With
    a ``limit``, stops with ResultTooLarge as soon as the encoded buffers take more bytes than that."""
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise ResultError(f"the returned columns have different lengths ({shown}); every column of a table needs the same number of values")
    out = []
    size = 0
    for name, values in columns.items():
        if not isinstance(name, str):
            raise ResultError(f"column names must be str, got {type(name).__name__} {name!r}")
        if not isinstance(values, list):
            values = list(values)
        out.append(_encode_fast(name, values) or _encode(name, _kind_of(name, values), values))
        if limit is not None:
            size += _buffer_bytes(out[-1])
            more = len(out) < len(columns)
            _limits.check_result("a table whose columns take at least" if more else "a table whose columns take", size, limit)
    return out


_WIDTH = {"float64": 8, "int64": 8, "timestamp": 8, "int32": 4, "date": 4, "null": 0}


def span_bytes(columns, at, n):
    """Bytes that rows ``at .. at + n`` take in encoded ``columns`` (as they would encoded on their own)."""
    size = 0
    for c in columns:
        if c["offsets"] is not None:
            offs = memoryview(c["offsets"]).cast("i")
            size += offs[at + n] - offs[at] + 4 * (n + 1)
        elif c["kind"] == "bool":
            size += (n + 7) // 8
        else:
            size += _WIDTH[c["kind"]] * n
        if c["validity"] is not None:
            size += (n + 7) // 8
    return size
