"""A private PostgreSQL server for the tests that share one Optuna study between processes.

``postgres_url`` (a session-scoped pytest fixture; a test module imports it) yields the SQLAlchemy URL
``postgresql://nnspec@127.0.0.1:PORT/nnspec_test`` of a server that exists only for this test session:

- the binaries (``initdb``, ``pg_ctl``, ``postgres``) come from the system's packages: ``initdb``'s
  directory on PATH where all three are there, else the newest ``/usr/lib/postgresql/<version>/bin``
  (``.ci/run`` installs them where it can);
- a fresh data directory in a new temporary directory: ``initdb`` with superuser ``nnspec`` and an
  ``pg_hba.conf`` that trusts the Unix socket and 127.0.0.1 and nothing else; the server listens on
  127.0.0.1 only, on a free port, with its socket in the temporary directory (``-k``), durability off
  (``fsync``, ``synchronous_commit``, ``full_page_writes``: a test database, thrown away);
- PostgreSQL refuses to run as root: as root, ``initdb`` and ``postgres`` run as the user ``postgres``
  where it exists, else ``nobody`` (through ``runuser -u USER --``, else ``su``), and the temporary
  directory belongs to that user;
- it waits until the server accepts a connection (``psycopg2.connect``, 150 tries 0.2 s apart: about
  30 s), creates the database ``nnspec_test``, and yields;
- at the end, even when tests failed, it stops the server (``pg_ctl stop -m fast``, then SIGKILL to the
  process group it started if that did not end it) and removes the directory.

Where the binaries are missing or the server does not start in time, every test using the fixture is
skipped with the precise reason (the log's last lines). Under pytest-xdist each worker that runs such a
test starts its own server (session scope is per worker), so workers never share one.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BINARIES = ("initdb", "pg_ctl", "postgres")
DB_USER = "nnspec"
DB_NAME = "nnspec_test"
CONNECT_TRIES = 150          # × CONNECT_PAUSE_S: how long the server has to start
CONNECT_PAUSE_S = 0.2
SERVER_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=60")


def find_binaries() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``: ``initdb``'s on PATH (or the one its
    link points into: Debian links them from /usr/bin) where it has all three, else the highest version
    under ``/usr/lib/postgresql``; None when none has all three."""
    def version(bin_dir: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in bin_dir.parent.name.split(".") if x.isdigit())

    initdb = shutil.which("initdb")
    on_path = [Path(initdb).parent, Path(os.path.realpath(initdb)).parent] if initdb else []
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    return next((d for d in [*on_path, *installed] if all((d / b).is_file() for b in BINARIES)), None)


def server_user() -> str | None:
    """The OS user the server runs as when this process is root (``postgres``, else ``nobody``); None when
    this process is not root (the server then runs as this user)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    return None


def as_user(user: str | None, argv: list[str]) -> list[str]:
    """``argv`` run as ``user`` (``runuser -u USER --`` where it exists, else ``su -s /bin/sh USER -c``)."""
    if user is None:
        return argv
    if shutil.which("runuser"):
        return ["runuser", "-u", user, "--", *argv]
    return ["su", "-s", "/bin/sh", user, "-c", shlex.join(argv)]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 6) -> str:
    """The last lines of a log file, joined with ' | ' (for a skip reason)."""
    with contextlib.suppress(OSError):
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    return "(no log)"


class PostgresServer:
    """One private server: ``start()`` returns its URL or raises ``RuntimeError`` saying why not;
    ``stop()`` ends it and removes its directory (safe to call whatever ``start`` did)."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.user = server_user()
        self.root = Path(tempfile.mkdtemp(prefix="nnspec-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.process: subprocess.Popen | None = None
        self.port = 0
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def run(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(as_user(self.user, [str(self.bin_dir / argv[0]), *argv[1:]]), cwd=self.root,
                              capture_output=True, text=True, timeout=120, check=False)

    def start(self) -> str:
        done = self.run("initdb", "-D", str(self.data), "-U", DB_USER, "--auth=trust", "-E", "UTF8",
                        "--locale=C", "--no-sync")
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {(done.stderr or done.stdout).strip()[-400:]}")
        # Trust the socket and loopback, nothing else (written over initdb's defaults).
        (self.data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        for _ in range(3):  # a port taken between free_port() and the bind: try another
            self.port = free_port()
            settings = [arg for s in SERVER_SETTINGS for arg in ("-c", s)]
            argv = as_user(self.user, [str(self.bin_dir / "postgres"), "-D", str(self.data), "-k", str(self.root),
                                       "-h", "127.0.0.1", "-p", str(self.port), *settings])
            with open(self.log, "ab") as log:
                self.process = subprocess.Popen(argv, cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True)
            if self.wait_until_accepting():
                return self.create_database()
            if "already in use" not in tail(self.log, 20):
                break
            self.kill()
        raise RuntimeError(f"the server did not accept connections within "
                           f"{CONNECT_TRIES * CONNECT_PAUSE_S:.0f} s: {tail(self.log)}")

    def connect(self, dbname: str):
        import psycopg2

        return psycopg2.connect(host="127.0.0.1", port=self.port, user=DB_USER, dbname=dbname, connect_timeout=2)

    def wait_until_accepting(self) -> bool:
        import psycopg2

        for _ in range(CONNECT_TRIES):
            if self.process.poll() is not None:
                return False
            try:
                self.connect("postgres").close()
                return True
            except psycopg2.OperationalError:
                time.sleep(CONNECT_PAUSE_S)
        return False

    def create_database(self) -> str:
        conn = self.connect("postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE {DB_NAME}")
        finally:
            conn.close()
        return f"postgresql://{DB_USER}@127.0.0.1:{self.port}/{DB_NAME}"

    def kill(self) -> None:
        """SIGKILL the process group this object started (its server and the server's children)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                self.run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "20")
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=20)
            self.kill()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The SQLAlchemy URL of a private PostgreSQL server's empty database ``nnspec_test`` (this module's
    docstring); skips the test with the reason where no server can run here."""
    bin_dir = find_binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (no initdb/pg_ctl/postgres on PATH or under "
                    "/usr/lib/postgresql/*/bin; .ci/run installs it from the system's packages where it can)")
    server = PostgresServer(bin_dir)
    try:
        try:
            url = server.start()
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            pytest.skip(f"a private PostgreSQL server could not start ({bin_dir}): {exc}")
        yield url
    finally:
        server.stop()
