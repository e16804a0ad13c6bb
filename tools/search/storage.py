"""Where a study lives: an Optuna storage from a URL.

- default: ``sqlite:///<out>/study.db`` — an embedded SQLite file beside the results, opened with a busy
  timeout so that the worker processes of ``--jobs`` (and several ``nnspec search`` processes by hand)
  can share it;
- ``--storage URL``: any SQLAlchemy URL that Optuna's ``RDBStorage`` takes (``postgresql://user:pw@host/db``
  for many machines, ``mysql://…``, ``sqlite:///path``);
- ``journal:PATH``: Optuna's ``JournalStorage`` over a ``JournalFileBackend`` file (an append-only log,
  safe for several processes on one file system).

A database that already holds tables, none of them Optuna's (someone's own SQLite file or PostgreSQL
database given by mistake), is refused before Optuna could add its tables to it (``_refuse_foreign``).
A PostgreSQL or MySQL server is given ``CONNECT_TIMEOUT_S`` to answer.

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
CONNECT_TIMEOUT_S = 10  # a database server that does not answer (a dropped packet, a wrong host)
OPTUNA_TABLES = ("studies", "version_info")  # what every Optuna schema (RDBStorage) has


class StorageError(Exception):
    """A storage URL that cannot be opened; the message is one line, the password masked."""


def default_url(out: Path) -> str:
    """The default storage of a study directory: the SQLite file ``<out>/study.db`` (absolute path)."""
    return f"sqlite:///{(Path(out) / 'study.db').resolve()}"


_QUERY_SECRET = re.compile(r"(?i)([?&](?:password|passwd|pwd|sslpassword)=)([^&]*)")


def _secrets(url: str) -> list[str]:
    """The password of ``url``'s ``user:password@`` part (everything between the first ``:`` and the last
    ``@`` of the part before the path, so a password holding ``@`` or ``/`` is whole) and of any
    ``password=`` query parameter, with their URL-decoded forms; [] when there is none."""
    from urllib.parse import unquote

    found = []
    head, sep, rest = url.partition("://")
    if sep:
        authority = rest.split("?", 1)[0]
        if "@" in authority:
            userinfo = authority[: authority.rindex("@")]
            if ":" in userinfo:
                found.append(userinfo.split(":", 1)[1])
    found.extend(m.group(2) for m in _QUERY_SECRET.finditer(url))
    found = [f for f in found if f]
    return sorted({*found, *(unquote(f) for f in found)}, key=len, reverse=True)


def absolute_url(url: str) -> str:
    """``url`` with a relative file path made absolute (``sqlite:///x.db``, ``journal:x.log``), so that
    the URL recorded in study.json and passed to the workers names the same file from any folder."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and url[len("sqlite:///"):] not in (
            "", ":memory:"):
        path, sep, query = url[len("sqlite:///"):].partition("?")
        return f"sqlite:///{Path(path).expanduser().resolve()}{sep}{query}"
    if url.startswith(JOURNAL_PREFIX) and url[len(JOURNAL_PREFIX):].strip():
        return f"{JOURNAL_PREFIX}{Path(url[len(JOURNAL_PREFIX):]).expanduser().resolve()}"
    return url


def mask(url: str) -> str:
    """``url`` with its passwords (``_secrets``) replaced by ``***`` (for messages and study.json); a URL
    without one unchanged."""
    head, sep, rest = url.partition("://")
    if sep:
        authority, query = (rest.split("?", 1) + [""])[:2] if "?" in rest else (rest, None)
        if "@" in authority.split("/")[0] or ("@" in authority and ":" in authority[: authority.rindex("@")]):
            at = authority.rindex("@")
            userinfo = authority[:at]
            if ":" in userinfo:
                authority = userinfo.split(":", 1)[0] + ":***" + authority[at:]
        url = f"{head}://{authority}" + (f"?{query}" if query is not None else "")
    return _QUERY_SECRET.sub(lambda m: m.group(1) + "***", url)


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

        _refuse_foreign_journal(path, url)
        try:
            return JournalStorage(JournalFileBackend(str(path)))
        except Exception as exc:  # noqa: BLE001 - any failure to open is the user's file
            what = "cannot open it" if isinstance(exc, OSError) else "not an Optuna journal file"
            raise StorageError(f"storage {url!r}: {what} ({_one_line(exc)[:200]})") from None
    if "://" not in url:
        raise StorageError(f"storage {mask(url)!r}: not a database URL (sqlite:///study.db, "
                           "postgresql://user@host/db, journal:study.log)")
    engine_kwargs = {}
    if url.startswith("sqlite"):
        engine_kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
        file = url.split("///", 1)[1].split("?", 1)[0] if "///" in url else ""
        if file and file != ":memory:" and Path(file).exists() and not Path(file).is_file():
            raise StorageError(f"cannot open storage {mask(url)}: {file} is not a regular file")
    elif url.startswith(("postgres", "mysql")):
        engine_kwargs = {"pool_pre_ping": True, "connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    try:
        _refuse_foreign(url, engine_kwargs)
        storage = _rdb_storage(url, engine_kwargs)
        if url.startswith("sqlite"):
            _write_ahead(storage.engine)
        return storage
    except StorageError:
        raise
    except Exception as exc:  # noqa: BLE001 - a bad URL, a missing driver, a server that does not answer
        reason = _one_line(exc, url)
        if "DB access module" in reason or isinstance(exc, ImportError):
            hint = " (pip install -e '.[postgres]')" if url.startswith("postgres") else ""
            reason = f"the database driver for {url.split(':', 1)[0]} is not installed{hint}"
        raise StorageError(f"cannot open storage {mask(url)}: {reason}") from None


def _refuse_foreign_journal(path: Path, url: str) -> None:
    """``StorageError`` when ``path`` is a file that is not an Optuna journal: Optuna ignores a last line
    without a newline and appends its own, so any file of one line (a note, a key) would be written into.
    An absent or empty file passes; else its first line must be a JSON object with an ``op_code`` and the
    file must end with a newline. The file is read, never written."""
    import json

    if path.exists() and not path.is_file():  # a FIFO would block the open for ever; a device, a directory
        raise StorageError(f"storage {url!r}: not a regular file")
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        with open(path, "rb") as f:
            first = f.readline(1 << 20)
            f.seek(-1, 2)
            last = f.read(1)
        record = json.loads(first.decode("utf-8"))
        ok = isinstance(record, dict) and "op_code" in record and last == b"\n"
    except (OSError, ValueError):
        ok = False
    if not ok:
        raise StorageError(f"storage {url!r}: not an Optuna journal file (nnspec search writes a journal only "
                           "into a new or empty file, or one Optuna wrote)")


def _refuse_foreign(url: str, engine_kwargs: dict) -> None:
    """``StorageError`` when the database at ``url`` holds tables but not Optuna's (``OPTUNA_TABLES``):
    nnspec never adds Optuna's tables to a database that holds something else. An empty or new database,
    or one with Optuna's schema, passes."""
    from sqlalchemy import create_engine, inspect

    engine = create_engine(url, **engine_kwargs)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    if tables and not set(OPTUNA_TABLES) <= tables:
        shown = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
        raise StorageError(f"cannot open storage {mask(url)}: the database holds tables that are not Optuna's "
                           f"({_one_line(Exception(shown))[:200]}); nnspec search does not add its tables to it: "
                           "give a new file or an empty database")


def _rdb_storage(url: str, engine_kwargs: dict, attempts: int = 5):
    """Optuna's RDBStorage for ``url``. On a new database, processes that start together (the machines of
    one study) all create Optuna's tables, and all but one may fail on the database's own catalog
    (``duplicate key``, ``already exists``): such a failure is retried after a moment, when the tables
    are there."""
    import random
    import time

    import optuna
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S,
                                              grace_period=GRACE_S)
        except (IntegrityError, ProgrammingError, OperationalError) as exc:
            racing = any(word in str(exc) for word in ("duplicate key", "already exists", "UniqueViolation",
                                                        "database is locked"))
            if not racing or attempt == attempts - 1:
                raise
            time.sleep(0.2 + random.random() * 0.5 * (attempt + 1))


def _write_ahead(engine) -> None:
    """SQLite in write-ahead-log mode with ``synchronous=NORMAL``: readers (the pruner, ``--show``, the
    other workers) no longer block the writer, and a commit (a trial's value after every epoch) is an
    append without an fsync — a crash of the machine may lose the last commits, never corrupt the file.
    WAL needs a local file system (not NFS), as SQLite's locking does anyway. The engine's connections
    are closed when the process ends: the last one to close checkpoints the log into the database file and
    removes ``-wal``/``-shm``, so a finished study is one self-contained ``study.db`` (safe to copy)."""
    import atexit

    from sqlalchemy import event

    def on_connect(connection, record):
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(engine, "connect", on_connect)
    engine.dispose()  # the connections Optuna opened before the listener: new ones get the pragmas
    atexit.register(engine.dispose)


def _one_line(exc: BaseException, url: str | None = None) -> str:
    """The first line of ``exc``'s message (SQLAlchemy's run to many), the password masked."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if url is not None:
        for secret in _secrets(url):
            text = text.replace(secret, "***")
    return text
