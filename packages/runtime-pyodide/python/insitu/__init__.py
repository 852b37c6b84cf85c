"""The ``insitu`` module that every user-defined function can import.

It gives UDFs :class:`Frame`, the small columnar frame a partition arrives as when pandas is not
loaded. Datastore access (``insitu.ds``) and the database context (``insitu.connect``) join it later.
"""

from .frame import Frame

__all__ = ["Frame"]
__version__ = "0.1.0"
