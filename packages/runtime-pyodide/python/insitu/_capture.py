"""Capturing what a UDF prints: a text stream that keeps the first ``limit`` bytes (UTF-8) written to it
and only counts the rest, so a UDF that prints without end neither fills memory nor hands the host one
huge string. The UDF keeps running; the captured text ends with a marker line saying what was dropped.
"""

import io

# Non-ASCII text is measured in slices of this many characters, so counting never copies much at once.
_MEASURE_CHARS = 1 << 20


def utf8_len(text):
    """Bytes ``text`` takes in UTF-8 (lone surrogates count as three bytes, as Python writes them)."""
    if text.isascii():
        return len(text)
    return sum(len(text[i:i + _MEASURE_CHARS].encode("utf-8", "surrogatepass")) for i in range(0, len(text), _MEASURE_CHARS))


def utf8_prefix(text, limit):
    """The longest start of ``text`` that takes at most ``limit`` bytes in UTF-8, and its byte length."""
    if text.isascii():
        head = text[:limit]
        return head, len(head)
    head = text[:limit].encode("utf-8", "surrogatepass")[:limit].decode("utf-8", "ignore")
    return head, utf8_len(head)


class CappedOutput(io.TextIOBase):
    """A writable text stream (what ``sys.stdout`` is during a UDF call) that keeps at most ``limit``
    bytes; ``getvalue()`` is the text kept plus, when something was dropped, a marker line."""

    def __init__(self, name, limit):
        super().__init__()
        self._name = name
        self._limit = limit
        self._kept = io.StringIO()
        self._kept_bytes = 0
        self._dropped = 0

    @property
    def encoding(self):
        return "utf-8"

    @property
    def name(self):
        return f"<{self._name}>"

    def writable(self):
        return True

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        if self._dropped:
            self._dropped += utf8_len(s)
            return len(s)
        room = self._limit - self._kept_bytes
        if len(s) <= room:  # a character takes at least a byte: only then can it fit
            n = utf8_len(s)
            if n <= room:
                self._kept.write(s)
                self._kept_bytes += n
                return len(s)
        head, head_bytes = utf8_prefix(s, room)
        self._kept.write(head)
        self._kept_bytes += head_bytes
        self._dropped += utf8_len(s) - head_bytes
        return len(s)

    @property
    def dropped(self):
        """Bytes written past the limit and not kept."""
        return self._dropped

    def getvalue(self):
        """The text kept, then a marker line when anything was dropped."""
        text = self._kept.getvalue()
        if self._dropped == 0:
            return text
        sep = "" if text == "" or text.endswith("\n") else "\n"
        return (
            f"{text}{sep}[insitu: {self._name} truncated: {self._dropped} more bytes dropped after the first "
            f"{self._kept_bytes} (maxOutputBytes = {self._limit})]\n"
        )
