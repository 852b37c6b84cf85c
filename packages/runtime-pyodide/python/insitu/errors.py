"""Errors the ``insitu`` module raises inside a UDF.

An uncaught :class:`InsituError` reaches the host with its ``code`` (e.g. ``PRIVILEGE``,
``DATASTORE_NOT_FOUND``) instead of ``PYTHON_ERROR``, and keeps the traceback.
"""


class InsituError(Exception):
    """An engine error seen from Python; ``code`` is the stable error code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class PrivilegeError(InsituError, PermissionError):
    """The calling user lacks a privilege."""


class NotFoundError(InsituError, LookupError):
    """A script, datastore or table is not visible to the calling user."""


def from_host(error):
    """An exception for an error dict sent by the host."""
    code = error.get("code", "RUNTIME_ERROR")
    message = error.get("message", "")
    if code == "PRIVILEGE":
        return PrivilegeError(code, message)
    if code.endswith("_NOT_FOUND"):
        return NotFoundError(code, message)
    return InsituError(code, message)
