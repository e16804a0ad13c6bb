"""Ctrl-C and SIGTERM during ``nnspec train``: asked for, never obeyed mid-write.

While ``deferred_stop_signals()`` is active, SIGINT and SIGTERM only record that a stop was
asked for; the training loop polls that record at every step boundary, and the final write of
the run directory runs to its end whatever arrives meanwhile. The handlers stay installed until
the run directory is complete, so a late signal can neither leave it half-written nor make the
process exit with a code that contradicts the outcome recorded in ``run.json``.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def _recorded_stop_signals(interrupt: bool) -> Iterator[list[int]]:
    """Yield a list that every SIGINT/SIGTERM received inside appends its number to, raising
    ``KeyboardInterrupt`` as well when ``interrupt``; the previous handlers are back on exit (one not set
    from Python, which cannot be put back, as SIG_DFL). Outside the main thread (where Python cannot install
    handlers) the list simply stays empty."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def record(signum, frame):
        received.append(signum)
        if interrupt:
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, record) for sig in STOP_SIGNALS}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def deferred_stop_signals():
    """While training and writing the run directory: SIGINT and SIGTERM are only recorded in the list
    yielded (the loop polls it at every step boundary)."""
    return _recorded_stop_signals(interrupt=False)


def interrupting_stop_signals():
    """Before training (reading the data, importing a framework, building the trainer): SIGINT and SIGTERM
    stop at once (``KeyboardInterrupt``) and are also recorded in the list yielded, so that one that a
    library swallows (TensorFlow's import catches what arrives inside it) is still seen afterwards."""
    return _recorded_stop_signals(interrupt=True)


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name
