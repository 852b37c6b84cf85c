"""Pickling for datastores.

Classes and functions defined in a UDF script live in a namespace that exists only during that call, so
plain pickle could not find them again in another call or worker. They are pickled by value instead:
the script's source travels with the object and is run again (once, cached) when it is loaded.
Everything else pickles as usual (protocol 5).
"""

import io
import pickle
import types

UDF_MODULE = "__insitu_udf__"
_REBUILT = {}


def _namespaces():
    from . import _runner

    current = _runner.current_namespace()
    if current is not None:
        yield current
    yield from _REBUILT.values()


def _source_of(obj):
    """The source of the UDF script that defined ``obj`` (a function or a class), or None."""
    if isinstance(obj, types.FunctionType):
        return obj.__globals__.get("__insitu_source__")
    if isinstance(obj, type):
        for v in vars(obj).values():
            f = getattr(v, "__func__", v)
            if isinstance(f, types.FunctionType):
                src = f.__globals__.get("__insitu_source__")
                if src is not None:
                    return src
        # A class without methods: find the namespace it was defined in.
        top = obj.__qualname__.split(".")[0]
        for ns in _namespaces():
            if top in ns and ns.get("__insitu_source__") is not None:
                found = ns
                for part in obj.__qualname__.split("."):
                    found = found.get(part) if isinstance(found, dict) else getattr(found, part, None)
                if found is obj:
                    return ns["__insitu_source__"]
    return None


def rebuilt_namespace(source):
    """The globals of UDF script ``source`` run once in this interpreter (cached by source)."""
    ns = _REBUILT.get(source)
    if ns is None:
        ns = {"__name__": UDF_MODULE, "__insitu_source__": source, "__builtins__": __builtins__}
        exec(compile(source, "<datastore script>", "exec"), ns)
        _REBUILT[source] = ns
    return ns


def _rebuild(source, qualname):
    obj = rebuilt_namespace(source)
    for part in qualname.split("."):
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        if isinstance(obj, (type, types.FunctionType)) and getattr(obj, "__module__", None) == UDF_MODULE:
            src = _source_of(obj)
            if src is not None and "<" not in obj.__qualname__:
                return _rebuild, (src, obj.__qualname__)
        return NotImplemented


def dumps(obj):
    buf = io.BytesIO()
    _Pickler(buf, protocol=5).dump(obj)
    return buf.getvalue()


def loads(data):
    """Unpickle without restrictions: for the loader's own objects, or others' loaded with ``trust=True``."""
    return pickle.loads(data)
