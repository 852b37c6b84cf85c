"""The ``insitu`` module that every user-defined function can import.

- :class:`Frame`: the small columnar frame a partition arrives as when pandas is not loaded;
- :mod:`insitu.ds`: datastores (save, load, dir, describe, delete) with the caller's privileges;
- :func:`connect`: the database context (query, execute), read-only unless the call allows writes;
- :func:`image`: add a PNG image (bytes, with an optional title) to the partition's result;
- :class:`InsituError` (and :class:`PrivilegeError`, :class:`NotFoundError`): engine errors.
"""

from . import ds
from ._images import image
from .context import Connection, connect
from .errors import InsituError, NotFoundError, PrivilegeError
from .frame import Frame

__all__ = ["Frame", "ds", "connect", "image", "Connection", "InsituError", "PrivilegeError", "NotFoundError"]
__version__ = "0.1.0"
