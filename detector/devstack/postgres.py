"""A throw-away real PostgreSQL (Debian's ``postgresql`` package) for the shared-store tests.

``initdb`` a fresh cluster in the work directory with trust authentication on loopback only,
then run ``postgres`` in the foreground so it is stopped by its own PID like every other
devstack server. PostgreSQL refuses to run as root, so under root (CI, the dev machine) the
cluster belongs to the ``postgres`` user the package creates. ``initdb --no-sync`` and
``fsync=off``: a test cluster trades durability for speed; nothing here must survive a power cut.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

from detector.devstack.ports import free_port
from detector.devstack.processes import ManagedProcess, ProcessError

SUPERUSER = "meshpulse"


def postgres_bin_dir() -> Path:
    """The newest installed ``/usr/lib/postgresql/<major>/bin`` (or ``MESHPULSE_POSTGRES_BIN_DIR``)."""
    if override := os.environ.get("MESHPULSE_POSTGRES_BIN_DIR"):
        return Path(override)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise ProcessError("PostgreSQL is not installed: apt-get install postgresql")
    return Path(found[-1]).parent


class RunningPostgres:
    def __init__(self, process: ManagedProcess, port: int, bin_dir: Path) -> None:
        self.process, self.port, self.bin_dir = process, port, bin_dir

    @property
    def dsn(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.process.running:
                raise ProcessError(f"postgres exited during start-up; log:\n{self.process.log_tail()}")
            probe = [str(self.bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
            if subprocess.run(probe, check=False, timeout=5).returncode == 0:
                return
            time.sleep(0.2)
        raise ProcessError(f"postgres not ready after {timeout_s:.0f}s; log:\n{self.process.log_tail()}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT): open client sessions are cut, not waited for. SIGTERM alone is
        PostgreSQL's "smart" shutdown, which waits for every client and then gets killed."""
        if self.process.running:
            os.kill(self.process.pid, signal.SIGINT)
        self.process.stop()

    def __enter__(self) -> RunningPostgres:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_postgres(
    workdir: Path, port: int | None = None, *, ready_timeout_s: float = 60.0
) -> RunningPostgres:
    """A fresh cluster in ``workdir/pgdata``, listening on 127.0.0.1 only, ready to connect."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    bin_dir, port = postgres_bin_dir(), port or free_port()
    data = workdir / "pgdata"
    user = "postgres" if os.geteuid() == 0 else None
    if user is not None:
        account = pwd.getpwnam(user)
        for path in (workdir, *workdir.rglob("*")):
            os.chown(path, account.pw_uid, account.pw_gid)
    if not data.exists():
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8"]
        initdb.append("--no-sync")  # ~2 s less to create, and ~2 s less to delete afterwards
        done = subprocess.run(initdb, user=user, capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            shutil.rmtree(data, ignore_errors=True)
            raise ProcessError(f"initdb failed: {done.stderr or done.stdout}")
    args = ["-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(workdir), "-c", "fsync=off"]
    process = ManagedProcess(str(bin_dir / "postgres"), args, workdir, name="postgres", user=user)
    running = RunningPostgres(process, port, bin_dir)
    try:
        process.start()
        running.wait_ready(ready_timeout_s)
    except BaseException:
        running.stop()
        raise
    return running
