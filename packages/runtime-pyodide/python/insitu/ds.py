"""insitu.ds: datastores from inside a UDF, with the calling user's privileges.

Objects are named; JSON-able values are stored as JSON and Frames as Arrow tables (both readable from
the host too); anything else is pickled (protocol 5, script-defined classes by value). Pickles another
user saved are loaded restrictively (see ``_safe_unpickle``) unless the loader passes ``trust=True``.
"""

import hashlib
import json
import math

from . import _host, _pickling, _safe_unpickle
from ._convert import column_values, encode_columns
from .errors import InsituError
from .frame import Frame


def _plain_json(v, depth=0):
    if depth > 100:
        return False
    if v is None or type(v) in (str, bool, int):
        return True
    if type(v) is float:
        return math.isfinite(v)
    if type(v) is list:
        return all(_plain_json(x, depth + 1) for x in v)
    if type(v) is dict:
        return all(type(k) is str and _plain_json(x, depth + 1) for k, x in v.items())
    return False


def _length(v):
    try:
        return len(v)
    except Exception:  # noqa: BLE001 - not sized
        return None


def _serialize(name, value):
    meta = {"name": name, "class": type(value).__name__, "length": _length(value), "rows": None, "columns": None}
    if isinstance(value, Frame):
        rows, cols = value.shape
        meta.update(format="arrow", rows=rows, columns=cols)
        return meta, {"columns": encode_columns(value._cols)}
    if type(value).__name__ == "DataFrame" and hasattr(value, "shape"):
        meta["rows"], meta["columns"] = (int(x) for x in value.shape)
    if _plain_json(value):
        meta["format"] = "json"
        return meta, json.dumps(value).encode("utf-8")
    try:
        data = _pickling.dumps(value)
    except Exception as e:  # noqa: BLE001 - report which object failed, save nothing
        raise TypeError(f"object {name!r} ({type(value).__name__}) cannot be pickled: {e}; nothing was saved") from None
    meta["format"] = "pickle"
    return meta, data


def save(objs, name, *, description="", overwrite=False, append=False, grantable=False):
    """Save ``objs`` (a dict of name -> object) as datastore ``name``; all or nothing."""
    if not isinstance(objs, dict) or not objs:
        raise TypeError("objs must be a non-empty dict of object name -> object")
    metas, blobs = [], []
    for key, value in objs.items():
        if not isinstance(key, str):
            raise TypeError(f"object names must be str, got {key!r}")
        meta, blob = _serialize(key, value)
        metas.append(meta)
        blobs.append(blob)
    opts = {"description": description, "overwrite": bool(overwrite), "append": bool(append), "grantable": bool(grantable)}
    _host.call("dsSave", {"name": name, "objects": metas, "opts": opts}, blobs)


def _script_visibility():
    """``visible(source)``: whether ``source`` is the running UDF's own script or one the calling user
    can see (asked of the engine by SHA-256, answers cached for one load)."""
    from . import _runner

    ns = _runner.current_namespace()
    running = ns.get("__insitu_source__") if ns is not None else None
    answers = {}

    def visible(source):
        if running is not None and source == running:
            return True
        if source not in answers:
            try:
                digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
            except UnicodeEncodeError:
                answers[source] = False
            else:
                found, _ = _host.call("dsVisibleScript", {"hash": digest})
                answers[source] = found is not None
        return answers[source]

    return visible


def _deserialize(meta, blob, datastore, trust, visible):
    fmt = meta["format"]
    if fmt == "json":
        return json.loads(bytes(blob).decode("utf-8"))
    if fmt == "arrow":
        return Frame({c["name"]: column_values(c["kind"], c["chunks"]) for c in blob})
    if trust or meta.get("own") is True:
        return _pickling.loads(bytes(blob))
    what = f"object {meta['name']!r} of datastore {datastore!r} saved by user {meta.get('owner')}"
    return _safe_unpickle.loads(bytes(blob), what, visible)


def load(name, objs=None, owner=None, to_globals=False, trust=False):
    """Load all objects of datastore ``name`` (or those in ``objs``) as a dict; ``owner`` for granted ones.

    Pickled objects another user saved may only use standard containers and scalars, ``datetime``,
    ``decimal``, ``fractions``, ``collections`` basics, ``insitu.Frame``, and classes and functions of
    scripts you can see; anything else raises PRIVILEGE (naming it) before any of it runs.
    ``trust=True`` lifts that: the saver's code then runs in your call, with your privileges.

    With ``to_globals=True`` the objects also become globals of the calling UDF.
    """
    if not isinstance(trust, bool):
        raise TypeError(f"trust must be True or False, got {trust!r}")
    if isinstance(objs, str):
        objs = [objs]
    metas, blobs = _host.call("dsLoad", {"name": name, "opts": {"objs": objs, "owner": owner}})
    visible = _script_visibility()
    out = {m["name"]: _deserialize(m, b, name, trust, visible) for m, b in zip(metas, blobs)}
    if to_globals:
        from . import _runner

        ns = _runner.current_namespace()
        if ns is not None:
            ns.update(out)
    return out


def dir(name=None, type="user", regex_match=False):  # noqa: A001 - the anchor's name
    """Datastores as dicts: name, owner, object_count, size, created, description, grantable (+ grantee).

    ``name`` is a SQL LIKE pattern, or with ``regex_match=True`` a regular expression (Python ``re``)
    the name must match anywhere (``re.search``), as the anchor's ``regex_match``."""
    if regex_match and name is not None:
        import re

        try:
            pattern = re.compile(name)
        except (re.error, TypeError) as e:
            raise InsituError("BAD_INPUT", f"name is not a valid regular expression: {e}") from None
        # Matched here, in the UDF's own interpreter: a slow pattern costs only this call.
        rows, _ = _host.call("dsList", {"opts": {"type": type}})
        return [r for r in rows if pattern.search(r["name"])]
    rows, _ = _host.call("dsList", {"opts": {"name": name, "type": type}})
    return rows


def describe(name, owner=None):
    """One dict per object: name, class, size, length, rows, columns."""
    rows, _ = _host.call("dsDescribe", {"name": name, "opts": {"owner": owner}})
    return rows


def delete(name, objs=None):
    """Delete datastore ``name``, or only the objects in ``objs``; returns how many objects were removed."""
    if isinstance(objs, str):
        objs = [objs]
    n, _ = _host.call("dsDelete", {"name": name, "opts": {"objs": objs}})
    return n
