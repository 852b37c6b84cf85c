"""insitu.Frame: a small columnar frame over a partition's columns.

It is not a pandas clone. It holds one Python list per column, keeps column order, and offers what a
UDF needs to read rows and columns and to build a result table.
"""


class Frame:
    """Columns of equal length, by name, in order.

    ``Frame({'a': [1, 2], 'b': ['x', 'y']})``; ``Frame.from_records([{'a': 1}, {'a': 2}])``.
    """

    __slots__ = ("_cols",)

    def __init__(self, columns=None):
        cols = {}
        length = None
        for name, values in (columns or {}).items():
            if not isinstance(name, str):
                raise TypeError(f"column names must be str, got {type(name).__name__}")
            values = list(values)
            if length is None:
                length = len(values)
            elif len(values) != length:
                raise ValueError(
                    f"column {name!r} has {len(values)} values but the first column has {length}; "
                    "all columns of a Frame must have the same length"
                )
            cols[name] = values
        self._cols = cols

    @classmethod
    def from_records(cls, records, columns=None):
        """A Frame from a list of dicts (missing keys become None)."""
        records = list(records)
        if columns is None:
            columns = []
            seen = set()
            for r in records:
                for k in r:
                    if k not in seen:
                        seen.add(k)
                        columns.append(k)
        return cls({c: [r.get(c) for r in records] for c in columns})

    @property
    def columns(self):
        """Column names, in order."""
        return list(self._cols)

    @property
    def shape(self):
        """(rows, columns)."""
        return (len(self), len(self._cols))

    def __len__(self):
        for values in self._cols.values():
            return len(values)
        return 0

    def __contains__(self, name):
        return name in self._cols

    def __getitem__(self, key):
        """``df['col']`` -> list of values; ``df[['a', 'b']]`` -> Frame with those columns."""
        if isinstance(key, str):
            try:
                return self._cols[key]
            except KeyError:
                raise KeyError(f"no column {key!r}; columns are {self.columns}") from None
        if isinstance(key, (list, tuple)):
            return Frame({k: self[k] for k in key})
        raise TypeError("index a Frame with a column name or a list of column names")

    def __setitem__(self, name, values):
        """``df['new'] = values`` adds or replaces a column (same length as the others)."""
        values = list(values)
        if self._cols and name not in self._cols and len(values) != len(self):
            raise ValueError(f"column {name!r} has {len(values)} values but the frame has {len(self)} rows")
        self._cols[name] = values

    def __getattr__(self, name):
        cols = object.__getattribute__(self, "_cols")
        if name in cols:
            return cols[name]
        raise AttributeError(f"Frame has no attribute or column {name!r}")

    def __iter__(self):
        """Iterate rows as dicts (unlike pandas, which iterates column names)."""
        return self.rows()

    def rows(self):
        """Iterate rows as dicts."""
        names = self.columns
        for values in zip(*self._cols.values()):
            yield dict(zip(names, values))

    def itertuples(self):
        """Iterate rows as tuples in column order."""
        return zip(*self._cols.values())

    def row(self, i):
        """Row ``i`` as a dict."""
        return {k: v[i] for k, v in self._cols.items()}

    def head(self, n=5):
        """The first ``n`` rows."""
        return Frame({k: v[:n] for k, v in self._cols.items()})

    def to_dict(self):
        """Columns as a dict of lists (a copy)."""
        return {k: list(v) for k, v in self._cols.items()}

    def to_records(self):
        """Rows as a list of dicts."""
        return list(self.rows())

    def to_pandas(self):
        """A pandas DataFrame with the same columns (needs pandas)."""
        import pandas

        return pandas.DataFrame(self._cols, columns=self.columns)

    def __eq__(self, other):
        return isinstance(other, Frame) and self._cols == other._cols

    def __repr__(self):
        n = len(self)
        lines = [f"insitu.Frame: {n} rows x {len(self._cols)} columns"]
        names = self.columns
        if names:
            shown = list(self.head(10).itertuples())
            cells = [names] + [[repr(v) for v in row] for row in shown]
            widths = [max(len(str(r[i])) for r in cells) for i in range(len(names))]
            for r in cells:
                lines.append("  ".join(str(c).rjust(w) for c, w in zip(r, widths)))
            if n > 10:
                lines.append(f"... {n - 10} more rows")
        return "\n".join(lines)
