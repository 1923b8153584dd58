"""A throwaway PostgreSQL cluster for the tests and the S4 benchmark.

``initdb`` and ``postgres`` refuse to run as root, so when we are root they run as the unprivileged
``postgres`` system user (Debian's ``postgresql`` package creates it) through ``runuser``, in a
temporary directory that user owns. The server listens on a free loopback port with its socket in
that directory. Roles: ``hw`` (superuser, trust over the socket and TCP) and ``hw_secret`` (password,
scram-sha-256 over TCP). :meth:`PgCluster.stop` stops it with ``pg_ctl stop -m immediate`` and
removes the directory; it is also registered with ``atexit`` and on SIGTERM so an interrupted run
leaves nothing behind, and a cluster whose owning process was killed outright (SIGKILL) is
reaped by the next :meth:`PgCluster.start` (each directory records its owner's pid).
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import List, Optional

__all__ = ["PgCluster", "find_pg_bin", "reap_stale", "SECRET_PASSWORD"]

#: The password of the role ``hw_secret`` (the tests check it never shows up anywhere).
SECRET_PASSWORD = "s3cr3t-Pa55w0rd!@:/?#%"


def find_pg_bin() -> Optional[str]:
    """The directory with ``initdb`` and ``pg_ctl`` (Debian keeps them out of PATH), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return os.path.dirname(found[-1])
    on_path = shutil.which("pg_ctl")
    return os.path.dirname(os.path.realpath(on_path)) if on_path else None


def _server_env() -> dict:
    """The environment for PostgreSQL's programs: without a sanitizer runtime preloaded into the
    test interpreter (``make sanitize``), which the server must not inherit."""
    return {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")}


_PREFIX = "hw-pg-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale(bin_dir: str) -> List[str]:
    """Stop and remove the clusters of earlier runs whose owning process is gone (killed with
    SIGKILL, where no clean-up of its own could run). Returns the directories removed."""
    removed = []
    for d in glob.glob(os.path.join(tempfile.gettempdir(), _PREFIX + "*")):
        try:
            with open(os.path.join(d, "owner.pid")) as f:
                owner = int(f.read().strip() or 0)
        except (OSError, ValueError):
            continue
        if owner and _alive(owner):
            continue
        data = os.path.join(d, "data")
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
            subprocess.run(prefix + [os.path.join(bin_dir, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"],
                           capture_output=True, cwd="/", env=_server_env())
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """Start with :meth:`start`, stop with :meth:`stop` (idempotent)."""

    def __init__(self) -> None:
        self.bin = find_pg_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed: `make setup` installs Debian's postgresql package")
        self.dir: Optional[str] = None
        self.port = 0
        self.host = "127.0.0.1"
        self.user = "hw"
        self.secret_user = "hw_secret"
        self.database = "hwtest"
        self._prefix: List[str] = []
        self._started = False

    # ---- life cycle

    def _run(self, *args: str, input: Optional[str] = None) -> str:
        cmd = self._prefix + [os.path.join(self.bin, args[0]), *args[1:]]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, cwd=self.dir, env=_server_env())
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:1])} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout

    def start(self) -> "PgCluster":
        reap_stale(self.bin)
        self.dir = tempfile.mkdtemp(prefix=_PREFIX)
        with open(os.path.join(self.dir, "owner.pid"), "w") as f:
            f.write(str(os.getpid()))
        if os.geteuid() == 0:
            # root: run the server as the postgres system user, in a directory it owns
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self._prefix = ["runuser", "-u", "postgres", "--"]
        atexit.register(self.stop)
        previous = signal.getsignal(signal.SIGTERM)

        def on_term(signum: int, frame: object) -> None:
            self.stop()
            if callable(previous):
                previous(signum, frame)
            else:
                raise SystemExit(128 + signum)

        try:
            signal.signal(signal.SIGTERM, on_term)
        except ValueError:  # not the main thread
            pass
        data = os.path.join(self.dir, "data")
        self._run("initdb", "-D", data, "-U", self.user, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8",
                  "--no-sync")
        with open(os.path.join(data, "pg_hba.conf"), "w") as f:
            f.write(
                f"local all all trust\n"
                f"host all {self.secret_user} 127.0.0.1/32 scram-sha-256\n"
                f"host all all 127.0.0.1/32 trust\n"
            )
        self.port = _free_port()
        opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.dir} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60")
        self._run("pg_ctl", "-D", data, "-o", opts, "-l", os.path.join(self.dir, "log"), "-w", "-t", "60", "start")
        self._started = True
        self.psql(f"CREATE DATABASE {self.database}", database="postgres")
        self.psql(f"SET password_encryption = 'scram-sha-256'; "
                  f"CREATE ROLE {self.secret_user} LOGIN PASSWORD '{SECRET_PASSWORD}'; "
                  f"GRANT ALL ON SCHEMA public TO {self.secret_user}; "
                  f"GRANT pg_read_all_data, pg_write_all_data TO {self.secret_user}; "
                  f"ALTER DATABASE {self.database} OWNER TO {self.secret_user}")
        return self

    def stop(self) -> None:
        if self.dir is None:
            return
        directory, self.dir = self.dir, None
        if self._started:
            self._started = False
            subprocess.run(self._prefix + [os.path.join(self.bin, "pg_ctl"), "-D", os.path.join(directory, "data"),
                                           "-m", "immediate", "-w", "stop"], capture_output=True, cwd="/",
                           env=_server_env())
        shutil.rmtree(directory, ignore_errors=True)

    # ---- helpers

    def psql(self, sql: str, database: Optional[str] = None) -> str:
        """Run SQL as the superuser over the socket (one transaction per call)."""
        return self._run("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.dir or "", "-p", str(self.port),
                         "-U", self.user, "-d", database or self.database, "-At", input=sql)

    def jdbc_url(self, database: Optional[str] = None) -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{database or self.database}"

    def __enter__(self) -> "PgCluster":
        return self if self._started else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
