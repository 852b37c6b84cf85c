"""Size caps on what a UDF sends back to the host: results past ``maxResultBytes`` are refused before they
are copied out of Python (RESULT_TOO_LARGE), and long error texts are clipped."""

# JavaScript's longest string (V8: 2**29 - 24 characters): longer text cannot cross to the host at all.
JS_MAX_STRING = 2**29 - 24


class ResultTooLarge(Exception):
    """A result over the limit; the message names the size, the limit and how to raise it."""


def format_bytes(n):
    """``n`` as exact bytes and, when large, in MiB (as the host writes it)."""
    if n < 2**20:
        return f"{n} bytes"
    mib = n / 2**20
    return f"{n} bytes ({int(mib) if mib.is_integer() else f'{mib:.1f}'} MiB)"


def too_large_message(what, size, limit):
    """What RESULT_TOO_LARGE says: ``what`` was measured (e.g. "bytes of length"), its size and the limit."""
    return (
        f"the UDF's result ({what} {format_bytes(size)}) is larger than maxResultBytes, {format_bytes(limit)}; "
        "return less per partition, or raise the limit with createEngine({ maxResultBytes })"
    )


def check_result(what, size, limit):
    """Raise ResultTooLarge when a result of ``size`` bytes is larger than ``limit``."""
    if size > limit:
        raise ResultTooLarge(too_large_message(what, size, limit))


def check_json(text, limit):
    """Raise ResultTooLarge when JSON text is over the limit or too long for a JavaScript string."""
    check_result("JSON text of", len(text), limit)
    if len(text) > JS_MAX_STRING:
        raise ResultTooLarge(
            f"the UDF's result (JSON text of {format_bytes(len(text))}) is longer than the longest JavaScript string; "
            "return it as a table or bytes"
        )


def clip(text, limit, what):
    """``text`` cut to at most ``limit`` characters, with a note saying so."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[insitu: {what} truncated: {len(text) - limit} more characters dropped]"


# Error messages and tracebacks are cut at this many characters.
MAX_ERROR_TEXT = 1 << 20
