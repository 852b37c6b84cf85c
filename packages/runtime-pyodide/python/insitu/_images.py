"""Figures of the running UDF call: PNG images added with :func:`insitu.image`, and, for calls with
``graphics: true``, every matplotlib figure left open when the UDF returns (saved as PNG, titled by its
suptitle, then closed). Images leave the worker only as bytes that start with the PNG signature.
"""

import io
import os
import sys

from .errors import InsituError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# matplotlib's file-writing backend: the interactive ones Pyodide ships reach for a browser.
os.environ.setdefault("MPLBACKEND", "agg")

_current = None


def _png_problem(png):
    """Why ``png`` is not a PNG file (signature, IHDR first, whole chunks, IEND at the very end), or None.
    The worker checks the same again before the bytes leave it."""
    if not isinstance(png, (bytes, bytearray)):
        return f"they are {type(png).__name__}, not bytes"
    if not png.startswith(PNG_SIGNATURE):
        return "they do not start with the PNG signature (b'\\x89PNG\\r\\n\\x1a\\n')"
    at, first = len(PNG_SIGNATURE), True
    while at + 12 <= len(png):
        length = int.from_bytes(png[at:at + 4], "big")
        kind = png[at + 4:at + 8]
        if not kind.isalpha():
            return f"a chunk at byte {at} has no chunk type"
        if first and (kind != b"IHDR" or length != 13):
            return "the first chunk is not IHDR"
        first = False
        end = at + 12 + length
        if length > 0x7FFFFFFF or end > len(png):
            return f"the {kind.decode()} chunk at byte {at} runs past the end"
        if kind == b"IEND":
            return None if end == len(png) else f"{len(png) - end} bytes follow the IEND chunk"
        at = end
    return "there is no IEND chunk at the end"


def image(png, title=None):
    """Add a PNG image (bytes) to the partition's result, with an optional title."""
    if _current is None:
        raise InsituError("BAD_INPUT", "insitu.image() works only while a UDF runs")
    if isinstance(png, (bytearray, memoryview)):
        png = bytes(png)
    if not isinstance(png, bytes):
        raise InsituError("BAD_RESULT", f"insitu.image() takes PNG bytes, got {type(png).__name__}")
    problem = _png_problem(png)
    if problem is not None:
        raise InsituError("BAD_RESULT", f"insitu.image() takes a PNG file, and these bytes are not one: {problem}; save figures with format='png'")
    if title is not None and not isinstance(title, str):
        raise InsituError("BAD_INPUT", f"insitu.image() title must be a string or None, got {type(title).__name__}")
    _current.append({"title": title, "png": png})


def begin():
    """Start collecting the images of a UDF call."""
    global _current
    _current = []


def _open_figures(save):
    """Close every open matplotlib figure, in figure-number order, saving each as PNG first when
    ``save`` (only when pyplot is loaded: a UDF that never imported it drew nothing). Figures never
    outlive their call, so none reaches a later call's result."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return []
    out = []
    for num in plt.get_fignums():
        fig = plt.figure(num)
        if save:
            buf = io.BytesIO()
            fig.savefig(buf, format="png")
            sup = getattr(fig, "_suptitle", None)
            title = sup.get_text() if sup is not None and sup.get_text() else None
            out.append({"title": title, "png": buf.getvalue()})
        plt.close(fig)
    return out


def end(graphics):
    """The call's images (with its open figures when ``graphics``); collecting stops."""
    global _current
    try:
        images = list(_current or [])
        images.extend(_open_figures(graphics))
    finally:
        _current = None
    for im in images:
        problem = _png_problem(im["png"])
        if problem is not None:
            raise InsituError("BAD_RESULT", f"a figure's bytes are not a PNG file: {problem}")
    return images


def discard():
    """Drop the images of a call that failed (and close its figures, so none reach the next call)."""
    global _current
    _current = None
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")
