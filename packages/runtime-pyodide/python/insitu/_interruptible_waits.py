"""Waits that a timeout or a cancel can interrupt.

Pyodide's interpreter only sees an interrupt (the host writes SIGINT into the interrupt buffer) while
it runs Python bytecode. Its ``time.sleep`` spins inside C, ``select.select`` ignores its timeout and a
timed lock acquire spins too, so a UDF waiting in one of them could not be stopped short of
terminating its worker. :func:`install` replaces them with waits that block on the worker's interrupt
word through ``_insitu_host.wait`` (an ``Atomics.wait`` the host wakes when it interrupts), in slices
of at most :data:`SLICE` seconds, so ``KeyboardInterrupt`` arrives within milliseconds of the
interrupt and the worker is kept:

- ``time.sleep`` (however it is imported: ``from time import sleep`` and ``import time as t`` get the
  same function);
- ``select.select`` with a timeout (it polls, then waits in slices until a file is ready or the
  timeout passes);
- every wait built on :class:`threading.Condition` (``Event.wait``, ``Condition.wait``,
  ``Semaphore.acquire``, ``Barrier.wait``, ``queue.Queue.get``), through the waiter locks that
  ``threading`` allocates.

It runs once when the interpreter is prepared, before the start-up snapshot is taken, so restored
interpreters have it too. Without the host module (an interpreter the engine did not start) the
original functions run.
"""

import functools
import math
import select as _select_module
import threading as _threading_module
import time as _time_module

#: Longest single wait, in seconds: the host wakes a wait when it interrupts, and even if that wake
#: were missed the interrupt would be seen within this long.
SLICE = 0.02

#: Longest sleep handled here (the interpreter's own sleep rejects longer ones with OverflowError).
_MAX_SECONDS = 9e9

_original_sleep = _time_module.sleep
_original_select = _select_module.select
_original_allocate_lock = _threading_module._allocate_lock
_monotonic = _time_module.monotonic


def _host_wait():
    """The host's interruptible wait, or None when no engine host is present."""
    try:
        import _insitu_host
    except ImportError:
        return None
    return getattr(_insitu_host, "wait", None)


def _wait_slice(seconds):
    """Block for at most ``seconds`` (capped at SLICE); raise KeyboardInterrupt if interrupted."""
    wait = _host_wait()
    seconds = min(seconds, SLICE)
    if wait is None:
        _original_sleep(seconds)
    else:
        wait(seconds)


def _plain_seconds(value):
    """Whether ``value`` is an int or float this module can wait for (others go to the originals)."""
    if not isinstance(value, (int, float)):
        return False
    return not math.isnan(value) and 0 <= value <= _MAX_SECONDS


def _sleep_until(deadline, ready=None):
    """Wait in slices until ``deadline`` (monotonic seconds, or None for ever) or until ``ready()``."""
    while True:
        left = math.inf if deadline is None else deadline - _monotonic()
        if left <= 0:
            return False
        _wait_slice(left)
        if ready is not None and ready():
            return True


@functools.wraps(_original_sleep)
def sleep(secs, /):
    if not _plain_seconds(secs):
        # Negative, NaN, huge or not a number: the original raises the interpreter's own error.
        return _original_sleep(secs)
    _sleep_until(_monotonic() + secs)


@functools.wraps(_original_select)
def select(rlist, wlist, xlist, timeout=None, /):
    if timeout is not None and not _plain_seconds(timeout):
        return _original_select(rlist, wlist, xlist, timeout)
    ready = _original_select(rlist, wlist, xlist, 0)
    if any(ready) or timeout == 0:
        return ready

    def poll():
        nonlocal ready
        ready = _original_select(rlist, wlist, xlist, 0)
        return any(ready)

    _sleep_until(None if timeout is None else _monotonic() + timeout, poll)
    return ready


class InterruptibleLock:
    """A lock whose blocking ``acquire`` waits in interruptible slices.

    The interpreter runs one thread, so nothing but that thread can release a lock it waits for: a
    timed acquire of a held lock is a sleep, and an untimed one waits until interrupted.
    """

    __slots__ = ("_lock",)

    def __init__(self):
        self._lock = _original_allocate_lock()

    def acquire(self, blocking=True, timeout=-1):
        """Acquire the lock, as ``_thread.lock.acquire`` does, but interruptibly."""
        if not blocking:
            return self._lock.acquire(False, timeout)
        if timeout != -1 and not _plain_seconds(timeout):
            return self._lock.acquire(True, timeout)
        if self._lock.acquire(False):
            return True
        deadline = None if timeout == -1 else _monotonic() + timeout
        return _sleep_until(deadline, lambda: self._lock.acquire(False))

    __enter__ = acquire

    def __exit__(self, *exc):
        self._lock.release()

    def release(self):
        """Release the lock."""
        self._lock.release()

    def locked(self):
        """Whether the lock is held."""
        return self._lock.locked()

    def _at_fork_reinit(self):
        self._lock._at_fork_reinit()


def install():
    """Replace the waits listed in the module docstring. Idempotent."""
    _time_module.sleep = sleep
    _select_module.select = select
    _threading_module._allocate_lock = InterruptibleLock
