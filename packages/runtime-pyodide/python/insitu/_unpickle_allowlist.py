"""What an object another user saved may refer to when it is loaded without ``trust=True``.

This is the one place to extend. Each entry names a module and the attributes of it a restricted load
may use: classes whose construction runs no code of the saver's (building a ``datetime`` or a ``deque``
from given values does nothing else). Functions that call, import, evaluate or look up other objects
(``getattr``, ``eval``, ``os.system``, ``subprocess.Popen``, ``importlib``...) must never be listed:
a pickle can call whatever it may refer to, with arguments of the saver's choosing.

Classes of other libraries (numpy, pandas, scikit-learn) are not listed: their own ``__reduce__``
methods can name further callables, so allowing a library means auditing which of its names are safe.
Until then, another user's objects of such classes need ``trust=True``.
"""

import builtins
import importlib

_EXCEPTIONS = tuple(
    n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)
)

ALLOWED = {
    "builtins": (
        "bool", "int", "float", "complex", "str", "bytes", "bytearray", "list", "tuple", "dict", "set",
        "frozenset", "range", "slice", "Ellipsis", "NotImplemented",
    ) + _EXCEPTIONS,
    "datetime": ("date", "time", "datetime", "timedelta", "timezone"),
    "decimal": ("Decimal",),
    "fractions": ("Fraction",),
    "collections": ("OrderedDict", "defaultdict", "deque", "Counter", "ChainMap"),
    "insitu.frame": ("Frame",),
    "insitu": ("Frame",),
}


def resolve(module, name):
    """The allowed object a pickle names as ``module.name``, or None (nothing is imported then)."""
    if name not in ALLOWED.get(module, ()):
        return None
    return getattr(importlib.import_module(module), name)
