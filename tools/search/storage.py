"""Where a study lives: an Optuna storage from a URL.

- default: ``sqlite:///<out>/study.db`` — an embedded SQLite file beside the results, opened with a busy
  timeout so that the worker processes of ``--jobs`` (and several ``nnspec search`` processes by hand)
  can share it;
- ``--storage URL``: any SQLAlchemy URL that Optuna's ``RDBStorage`` takes (``postgresql://user:pw@host/db``
  for many machines, ``mysql://…``, ``sqlite:///path``);
- ``journal:PATH``: Optuna's ``JournalStorage`` over a ``JournalFileBackend`` file (an append-only log,
  safe for several processes on one file system).

Every failure to open one (a malformed URL, a missing driver, a server that does not answer) is a
``StorageError`` whose message is one line naming the URL with its password masked.
"""

from __future__ import annotations

import re
from pathlib import Path

JOURNAL_PREFIX = "journal:"
SQLITE_BUSY_TIMEOUT_S = 60  # how long a writer waits for another process's lock before SQLite gives up
HEARTBEAT_S = 30  # a RUNNING trial whose process stopped beating for GRACE_S is marked failed by the next worker
GRACE_S = 120


class StorageError(Exception):
    """A storage URL that cannot be opened; the message is one line, the password masked."""


def default_url(out: Path) -> str:
    """The default storage of a study directory: the SQLite file ``<out>/study.db`` (absolute path)."""
    return f"sqlite:///{(Path(out) / 'study.db').resolve()}"


_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][\w+.-]*://[^:/@]*:)(?P<password>[^@]*)(?P<tail>@.*)$")


def mask(url: str) -> str:
    """``url`` with the password of its ``user:password@`` part replaced by ``***`` (for messages and
    study.json); any other URL unchanged."""
    match = _PASSWORD.match(url)
    if match is None:
        return url
    return f"{match['head']}***{match['tail']}"


def open_storage(url: str):
    """The Optuna storage for ``url`` (see the module docstring). Raises ``StorageError``."""
    import optuna

    from tools.search.quiet import quiet_optuna

    quiet_optuna()
    if url.startswith(JOURNAL_PREFIX):
        path = Path(url[len(JOURNAL_PREFIX):]).expanduser()
        if not str(path) or str(path) == ".":
            raise StorageError(f"storage {url!r}: journal: needs a file path (journal:study.log)")
        if not path.parent.is_dir():
            raise StorageError(f"storage {url!r}: the directory {path.parent} does not exist")
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        try:
            return JournalStorage(JournalFileBackend(str(path)))
        except Exception as exc:  # noqa: BLE001 - any failure to open is the user's file
            raise StorageError(f"storage {url!r}: {_one_line(exc)}") from None
    if "://" not in url:
        raise StorageError(f"storage {mask(url)!r}: not a database URL (sqlite:///study.db, "
                           "postgresql://user@host/db, journal:study.log)")
    engine_kwargs = {}
    if url.startswith("sqlite"):
        engine_kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S,
                                          grace_period=GRACE_S)
    except Exception as exc:  # noqa: BLE001 - a bad URL, a missing driver, a server that does not answer
        reason = _one_line(exc, url)
        if "DB access module" in reason or isinstance(exc, ImportError):
            hint = " (pip install -e '.[postgres]')" if url.startswith("postgres") else ""
            reason = f"the database driver for {url.split(':', 1)[0]} is not installed{hint}"
        raise StorageError(f"cannot open storage {mask(url)}: {reason}") from None


def _one_line(exc: BaseException, url: str | None = None) -> str:
    """The first line of ``exc``'s message (SQLAlchemy's run to many), the password masked."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if url is not None:
        match = _PASSWORD.match(url)
        if match and match["password"]:
            text = text.replace(match["password"], "***")
    return text
