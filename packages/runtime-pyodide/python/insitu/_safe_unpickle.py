"""Unpickling objects another user saved, so that none of the saver's code runs unless the loader can see it.

A pickle is a small program: it names classes and functions and calls them. Objects a user loads from
another owner's datastore go through :class:`RestrictedUnpickler`, which

* resolves names only from the allowlist in ``_unpickle_allowlist`` (nothing else is imported);
* rebuilds classes and functions pickled by value (their UDF script's source travels with them) only
  when that source is exactly a script the loading user can see, and only names the script defines;
* calls, instantiates or sets the state of nothing but what it handed out itself.

Everything else is ``PRIVILEGE`` naming what was referred to, before any of it runs. The pure-Python
unpickler is used because its opcodes can be checked one by one (slower than the C one; only other
users' objects pay for it).
"""

import copyreg
import io
import pickle
import types

from . import _pickling, _unpickle_allowlist
from .errors import PrivilegeError

# Objects whose state a pickle may not set: classes, modules and functions (they are shared code).
_NO_STATE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def _name(obj):
    module = getattr(obj, "__module__", None) or type(obj).__module__
    qualname = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{module}.{qualname}"


class RestrictedUnpickler(pickle._Unpickler):  # noqa: SLF001 - the pure-Python unpickler, on purpose
    """Unpickle ``data`` for a user who did not save it. ``what`` names the object in errors;
    ``visible(source)`` says whether a script source is one the loading user can see."""

    dispatch = dict(pickle._Unpickler.dispatch)  # noqa: SLF001

    def __init__(self, data, what, visible):
        super().__init__(io.BytesIO(data))
        self._what = what
        self._visible = visible
        self._given = {}
        self._rebuild_entry = self._give(self._rebuild_checked)

    def _give(self, obj):
        self._given[id(obj)] = obj
        return obj

    def _handed_out(self, obj):
        return self._given.get(id(obj)) is obj

    def _refuse(self, name, why):
        raise PrivilegeError(
            "PRIVILEGE",
            f"{self._what} refers to {name}, {why}; none of it ran. "
            "insitu.ds.load(..., trust=True) would load it by running the saver's code with your privileges",
        )

    def find_class(self, module, name):
        if module == "insitu._pickling" and name == "_rebuild":
            return self._rebuild_entry
        obj = _unpickle_allowlist.resolve(module, name)
        if obj is None:
            self._refuse(f"{module}.{name}", "which loading another user's object may not use")
        return self._give(obj)

    def get_extension(self, code):
        # Always through find_class: the pickle module's extension cache is shared with other unpicklers.
        key = copyreg._inverted_registry.get(code)  # noqa: SLF001
        if not key:
            raise pickle.UnpicklingError(f"unregistered extension code {code}")
        self.append(self.find_class(*key))

    def _rebuild_checked(self, source, qualname):
        """A class or function of a UDF script carried by value, if that script is visible to the loader."""
        if type(source) is not str or type(qualname) is not str:
            raise pickle.UnpicklingError("malformed script reference in pickle")
        if not self._visible(source):
            self._refuse(f"{qualname} (defined in a script carried with it)", "and that script is not one you can see")
        ns = _pickling.rebuilt_namespace(source)
        obj = ns
        parts = qualname.split(".")
        for i, part in enumerate(parts):
            obj = obj.get(part) if i == 0 else vars(obj).get(part)
            if isinstance(obj, staticmethod):
                obj = obj.__func__
            is_class = isinstance(obj, type) and obj.__module__ == _pickling.UDF_MODULE
            is_function = isinstance(obj, types.FunctionType) and obj.__globals__ is ns
            if not (is_class or (is_function and i == len(parts) - 1)):
                self._refuse(f"{qualname} of a visible script", "which is not a class or function that script defines")
        return self._give(obj)

    def _check_call(self, func):
        if not self._handed_out(func):
            self._refuse(_name(func), "which loading another user's object may not call")

    def _load_reduce(self):
        self._check_call(self.stack[-2])
        pickle._Unpickler.load_reduce(self)  # noqa: SLF001

    def _load_obj(self):
        if self.stack:
            self._check_call(self.stack[0])
        pickle._Unpickler.load_obj(self)  # noqa: SLF001

    def _load_newobj(self):
        cls = self.stack[-2]
        if not isinstance(cls, type):
            self._refuse(_name(cls), "which is not a class")
        self._check_call(cls)
        pickle._Unpickler.load_newobj(self)  # noqa: SLF001

    def _load_newobj_ex(self):
        cls = self.stack[-3]
        if not isinstance(cls, type):
            self._refuse(_name(cls), "which is not a class")
        self._check_call(cls)
        pickle._Unpickler.load_newobj_ex(self)  # noqa: SLF001

    def _load_build(self):
        inst = self.stack[-2]
        if self._handed_out(inst) or isinstance(inst, _NO_STATE):
            self._refuse(_name(inst), "whose attributes loading another user's object may not set")
        pickle._Unpickler.load_build(self)  # noqa: SLF001

    dispatch[pickle.REDUCE[0]] = _load_reduce
    dispatch[pickle.OBJ[0]] = _load_obj
    dispatch[pickle.NEWOBJ[0]] = _load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = _load_newobj_ex
    dispatch[pickle.BUILD[0]] = _load_build


def loads(data, what, visible):
    """Unpickle another user's object ``data`` (named ``what`` in errors); see :class:`RestrictedUnpickler`."""
    return RestrictedUnpickler(data, what, visible).load()
