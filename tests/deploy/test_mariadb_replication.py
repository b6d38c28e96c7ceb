"""deploy/mariadb/*.cnf really run: a throwaway primary and replica built from them replicate,
and the router reads from the replica while writes land on the primary."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import MySQLdb
import pytest

from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Instance:
    def __init__(self, base: Path, name: str, cnf: Path) -> None:
        self.dir = base / name
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        data = self.dir / "data"
        data.mkdir(parents=True)
        # The deploy file first, then only what a throwaway instance must change (paths, sizes).
        self.defaults = self.dir / "my.cnf"
        self.defaults.write_text(
            f"!include {cnf}\n[mariadbd]\ndatadir={data}\nsocket={self.dir}/sock\nport={self.port}\n"
            f"bind_address=127.0.0.1\nlog_bin={self.dir}/binlog\nrelay_log={self.dir}/relay\n"
            f"pid_file={self.dir}/pid\nlog_error={self.dir}/error.log\nslow_query_log_file={self.dir}/slow.log\n"
            "innodb_buffer_pool_size=32M\nskip_name_resolve=ON\nuser=root\n"
        )

    def start(self) -> None:
        subprocess.run(
            [
                "mariadb-install-db",
                f"--defaults-file={self.defaults}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        self.process = subprocess.Popen(
            [MARIADBD, f"--defaults-file={self.defaults}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.connect().close()
                return
            except MySQLdb.OperationalError:
                time.sleep(0.2)
        raise RuntimeError((self.dir / "error.log").read_text()[-2000:])

    def connect(self, db: str | None = None) -> MySQLdb.Connection:
        kwargs = {"db": db} if db else {}
        return MySQLdb.connect(
            host="127.0.0.1", port=self.port, user="root", passwd="", autocommit=True, **kwargs
        )

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture(scope="module")
def primary_and_replica(tmp_path_factory) -> Iterator[tuple[Instance, Instance]]:
    base = tmp_path_factory.mktemp("mariadb")
    primary = Instance(base, "primary", ROOT / "deploy/mariadb/primary.cnf")
    replica = Instance(base, "replica", ROOT / "deploy/mariadb/replica.cnf")
    try:
        primary.start()
        replica.start()
        conn = primary.connect()
        cur = conn.cursor()
        cur.execute("CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'repl-pass'")
        cur.execute("GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'")
        cur.execute("SELECT @@gtid_binlog_pos")
        position = cur.fetchone()[0]
        conn.close()
        conn = replica.connect()
        cur = conn.cursor()
        cur.execute(f"SET GLOBAL gtid_slave_pos = '{position}'")
        cur.execute(
            f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={primary.port}, MASTER_USER='repl', "
            "MASTER_PASSWORD='repl-pass', MASTER_USE_GTID=slave_pos"
        )
        cur.execute("START SLAVE")
        conn.close()
        yield primary, replica
    finally:
        replica.stop()
        primary.stop()


def test_replica_config_replicates_and_refuses_writes(primary_and_replica):
    primary, replica = primary_and_replica
    conn = primary.connect()
    cur = conn.cursor()
    cur.execute("CREATE DATABASE app CHARACTER SET utf8mb4")
    cur.execute("CREATE TABLE app.t (id INT PRIMARY KEY, label VARCHAR(20)) ENGINE=InnoDB")
    cur.execute("INSERT INTO app.t VALUES (1, 'from-primary')")
    conn.close()

    def replicated() -> bool:
        try:
            rconn = replica.connect()
            rcur = rconn.cursor()
            rcur.execute("SELECT label FROM app.t WHERE id = 1")
            row = rcur.fetchone()
            rconn.close()
            return row == ("from-primary",)
        except MySQLdb.Error:
            return False

    assert wait_until(replicated, timeout_seconds=20, interval_seconds=0.1)
    rconn = replica.connect()
    rcur = rconn.cursor()
    rcur.execute("SELECT @@read_only, @@tx_isolation, @@character_set_server")
    assert rcur.fetchone() == (1, "READ-COMMITTED", "utf8mb4")
    # read_only: an application account (no SUPER) cannot write on the replica
    rcur.execute("CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'app-pass'")
    rcur.execute("GRANT SELECT, INSERT ON app.* TO 'app'@'127.0.0.1'")
    rconn.close()
    app_conn = MySQLdb.connect(
        host="127.0.0.1", port=replica.port, user="app", passwd="app-pass", db="app"
    )
    with pytest.raises(MySQLdb.OperationalError, match=r"(?i)read.only"):
        app_conn.cursor().execute("INSERT INTO t VALUES (2, 'nope')")
    app_conn.close()


def test_primary_config_is_strict_and_row_based(primary_and_replica):
    primary, _ = primary_and_replica
    conn = primary.connect()
    cur = conn.cursor()
    cur.execute(
        "SELECT @@binlog_format, @@sql_mode LIKE '%STRICT_TRANS_TABLES%', @@innodb_lock_wait_timeout"
    )
    assert cur.fetchone() == ("ROW", 1, 10)
    conn.close()
