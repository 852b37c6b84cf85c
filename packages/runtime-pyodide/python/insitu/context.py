"""insitu.connect(): the database, from inside a UDF, as the calling user.

Read-only unless the apply call was made with ``{ context: 'write' }``. Engine tables are never
reachable. The connection belongs to the worker (its own connection to the database file).
"""

from . import _host
from ._convert import column_values


class Connection:
    """A connection bound to the calling user; get one with :func:`insitu.connect`."""

    def query(self, sql, params=None, *, input_type="frame"):
        """Rows of one read-only SELECT as a Frame (or ``input_type`` 'pandas', 'records', 'columns')."""
        from ._runner import make_input

        cols = _host.query(sql, list(params or []))
        data = {c["name"]: column_values(c["kind"], c["chunks"]) for c in cols}
        return make_input(data, input_type)

    def execute(self, sql, params=None):
        """Run one statement; returns the number of rows changed. Writes need a write context."""
        return _host.execute(sql, list(params or []))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def connect():
    """A connection to the engine's database with the calling user's privileges."""
    return Connection()
