"""Columns between Arrow buffers (from the host) and Python values, both ways.

Input: per column a list of chunks, each with ``length``, ``data`` (values buffer), ``offsets``
(int32, variable-width kinds) and ``validity`` (bitmap or None). Output: the same layout, built with
``array`` so that numbers never pass one by one through the JS bridge.
"""

import datetime
import numbers
from array import array

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
    out = []
    for ch in chunks:
        n = ch["length"]
        validity = ch.get("validity")
        if kind == "null":
            out.extend([None] * n)
            continue
        values = _chunk_values(kind, n, ch.get("data"), ch.get("offsets")) if n else []
        if validity is not None:
            valid = _bits(validity, n)
            values = [v if ok else None for v, ok in zip(values, valid)]
        out.extend(values)
    return out


# ---- Python -> host -------------------------------------------------------------------------------

def _kind_of(name, values):
    kind = None
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool) or type(v).__name__ == "bool_":
            k = "bool"
        elif isinstance(v, numbers.Integral):
            k = "int64"
        elif isinstance(v, numbers.Real):
            k = "float64"
        elif isinstance(v, str):
            k = "utf8"
        elif isinstance(v, (bytes, bytearray, memoryview)):
            k = "binary"
        elif isinstance(v, datetime.datetime):
            k = "timestamp"
        elif isinstance(v, datetime.date):
            k = "date"
        else:
            raise ResultError(
                f"column {name!r} holds a {type(v).__name__}; table cells must be None, bool, int, float, "
                "str, bytes, datetime.date or datetime.datetime"
            )
        if kind is None or kind == k:
            kind = k
        elif {kind, k} == {"int64", "float64"}:
            kind = "float64"
        else:
            raise ResultError(f"column {name!r} mixes {kind} and {k} values; give every row the same type")
    return kind or "null"


def _validity(values):
    n = len(values)
    if all(v is not None for v in values):
        return None
    bits = bytearray((n + 7) // 8)
    for i, v in enumerate(values):
        if v is not None:
            bits[i >> 3] |= 1 << (i & 7)
    return bytes(bits)


def _float(v):
    return float(v) if v is not None else 0.0


def _encode(name, kind, values):
    n = len(values)
    offsets = None
    if kind == "float64":
        data = array("d", [_float(v) for v in values]).tobytes()
    elif kind == "int64":
        ints = [0 if v is None else int(v) for v in values]
        for v in ints:
            if v < _INT64_MIN or v > _INT64_MAX:
                raise ResultError(f"column {name!r} holds {v}, which does not fit in a 64-bit integer")
        data = array("q", ints).tobytes()
    elif kind == "bool":
        bits = bytearray((n + 7) // 8)
        for i, v in enumerate(values):
            if v:
                bits[i >> 3] |= 1 << (i & 7)
        data = bytes(bits)
    elif kind in ("utf8", "binary"):
        parts = [b"" if v is None else (v.encode("utf-8") if kind == "utf8" else bytes(v)) for v in values]
        offs = array("i", [0])
        total = 0
        for p in parts:
            total += len(p)
            offs.append(total)
        data = b"".join(parts)
        offsets = offs.tobytes()
    elif kind == "date":
        data = array("i", [0 if v is None else v.toordinal() - _EPOCH_ORDINAL for v in values]).tobytes()
    elif kind == "timestamp":
        data = array(
            "q",
            [0 if v is None else int((v.replace(tzinfo=None) - _EPOCH if v.tzinfo is None else
                                      v.astimezone(datetime.timezone.utc).replace(tzinfo=None) - _EPOCH)
                                     / datetime.timedelta(milliseconds=1)) for v in values],
        ).tobytes()
    else:  # null
        data = b""
    return {"name": name, "kind": kind, "length": n, "data": data, "offsets": offsets, "validity": _validity(values)}


def encode_columns(columns):
    """Encode an ordered dict of column name -> list of values for the host (checks equal length)."""
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise ResultError(f"the returned columns have different lengths ({shown}); every column of a table needs the same number of values")
    out = []
    for name, values in columns.items():
        if not isinstance(name, str):
            raise ResultError(f"column names must be str, got {type(name).__name__} {name!r}")
        values = list(values)
        out.append(_encode(name, _kind_of(name, values), values))
    return out
