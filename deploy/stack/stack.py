"""The whole system on one machine, from the configs in deploy/ (`make stack`).

Over 400 lines on purpose: one standard-library script that drills and `make stack` run
without the project installed; every process it manages shares its start/stop code.

    python deploy/stack/stack.py up       start what is not running, migrate, seed, wait for health
    python deploy/stack/stack.py status   each process (pid, port, up/down) + the health document
    python deploy/stack/stack.py down     stop everything this stack started, by pid
    python deploy/stack/stack.py clean    down, then delete STACK_DIR (data included)
    python deploy/stack/stack.py restart-web web-1   drain, stop, start, undrain one web server
    python deploy/stack/stack.py stop|start NAME     one process (drills use these)

Everything runs on 127.0.0.1: the front (nginx) on STACK_PORT (8080), the rest on
STACK_BASE_PORT+1.. (7401..). The deploy configs are used in place and only the machine
specifics are overridden: the MariaDB option files are `!include`d by a generated file that sets
paths, ports and memory; Redis gets its conf file plus command-line overrides; nginx.conf is
rendered with the listen port and the upstream servers. Every process has its own pid file under
STACK_DIR/pids and is started in its own session, so `down` stops exactly its process groups and
nothing else on the machine (the shared MariaDB on 3306 and Redis on 6379 are never touched).

All processes read one environment file, STACK_DIR/env; a few per-process variables (listen
address, drain file, metrics directory, worker metrics port) are added on top of it.

Only the standard library is used here, so the pure parts (rendering) are testable anywhere.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
DEPLOY = ROOT / "deploy"
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", str(ROOT / ".venv"))) / "bin"

# Port offsets from STACK_BASE_PORT (7400): one fixed map, so drills and benches find everything.
PORT_OFFSETS = {
    "mariadb-primary": 1,
    "mariadb-replica": 2,
    "redis-cache": 3,
    "redis-coordination": 4,
    "provider-stub": 5,
    "web-1": 11,
    "web-2": 12,
    "worker-default": 21,  # the worker's Prometheus port: open once the worker is ready
    "worker-reminders": 22,
    "worker-urgent": 23,
    "worker-sync": 24,
    "broker-proxy": 40,  # deploy/dev/faultproxy.py in front of the broker
    "broker-proxy-control": 41,
}
RABBITMQ_PORT = 5672
# Fault proxies the drills add sit at STACK_BASE_PORT + 42..49 (bench/drills.py).
FAULT_PROXY_OFFSET = 42
WEB_SERVERS = ("web-1", "web-2")
QUEUES = ("default", "reminders", "urgent", "sync")
# Celery concurrency per queue: 2 cores in all, so one process each; default gets a second one
# for the post listeners and digests.
WORKER_CONCURRENCY = {"default": 2, "reminders": 1, "urgent": 1, "sync": 1}
# Smaller than the deploy files' production sizes (4G buffer pool, 2 GB/1 GB Redis): this box
# runs all of it at once next to other work.
MARIADB_BUFFER_POOL = "256M"
REDIS_CACHE_MAXMEMORY = "256mb"
REDIS_COORDINATION_MAXMEMORY = "256mb"
# Debian packages: (package, a binary that shows it is there; None: ask dpkg).
DEBIAN_PACKAGES = (
    ("mariadb-server", "mariadbd"),
    ("mariadb-client", "mariadb"),
    ("redis-server", "redis-server"),
    ("nginx-light", "nginx"),
    ("wrk", "wrk"),
    ("libmariadb-dev", None),  # mysqlclient builds against it
    ("pkg-config", "pkg-config"),
)


def log(message: str) -> None:
    sys.stderr.write(f"[stack] {message}\n")
    sys.stderr.flush()


# ------------------------------------------------------------------------------ layout


@dataclass(frozen=True)
class Layout:
    """Where everything lives and listens; built from the STACK_* environment variables."""

    stack_dir: Path
    front_port: int = 8080
    base_port: int = 7400
    broker: str = "redis"
    seed_users: int = 100_000
    web_workers: int = 2

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Layout:
        environ = dict(os.environ if environ is None else environ)
        stack_dir = Path(environ.get("STACK_DIR") or ROOT / "var" / "stack")
        if not stack_dir.is_absolute():
            stack_dir = ROOT / stack_dir
        # Unset: the broker of the stack already in STACK_DIR (its env file), so `make drills`
        # and `make stack-down` find a RabbitMQ stack without STACK_BROKER repeated.
        broker = environ.get("STACK_BROKER") or _running_broker(stack_dir) or "redis"
        if broker not in ("redis", "rabbitmq"):
            raise SystemExit(f"STACK_BROKER must be redis or rabbitmq, not {broker!r}")
        return cls(
            stack_dir=stack_dir,
            front_port=int(environ.get("STACK_PORT", "8080") or 8080),
            base_port=int(environ.get("STACK_BASE_PORT", "7400") or 7400),
            broker=broker,
            seed_users=int(environ.get("STACK_SEED_USERS", "100000") or 0),
            web_workers=int(environ.get("STACK_WEB_WORKERS", "2") or 2),
        )

    def port(self, name: str) -> int:
        if name == "nginx":
            return self.front_port
        return self.base_port + PORT_OFFSETS[name]

    def fault_proxy_port(self, index: int = 0) -> int:
        return self.base_port + FAULT_PROXY_OFFSET + index

    @property
    def pids(self) -> Path:
        return self.stack_dir / "pids"

    @property
    def logs(self) -> Path:
        return self.stack_dir / "logs"

    @property
    def run(self) -> Path:
        return self.stack_dir / "run"

    def pid_file(self, name: str) -> Path:
        return self.pids / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def mariadb_dir(self, role: str) -> Path:
        return self.stack_dir / f"mariadb-{role}"

    def socket(self, role: str) -> Path:
        return self.mariadb_dir(role) / "mariadb.sock"

    def drain_file(self, web: str) -> Path:
        return self.run / f"{web}.drain"

    def nginx_prefix(self) -> Path:
        return self.stack_dir / "nginx"

    @property
    def rabbitmq_vhost(self) -> str:
        return f"platform-stack-{self.front_port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.front_port}"


# ------------------------------------------------------------------------------ rendering (pure)


def render_mariadb_cnf(*, layout: Layout, role: str) -> str:
    """An option file that includes deploy/mariadb/<role>.cnf and overrides only what is
    machine-specific. Later options win in MariaDB, so the include comes first."""
    base = layout.mariadb_dir(role)
    server_id = 1 if role == "primary" else 2
    lines = [
        f"# Generated by deploy/stack/stack.py for the {role}; the policy is in the included file.",
        f"!include {DEPLOY / 'mariadb' / f'{role}.cnf'}",
        "",
        "[mariadbd]",
        f"server_id                 = {server_id}",
        "bind_address              = 127.0.0.1",
        f"port                      = {layout.port(f'mariadb-{role}')}",
        f"socket                    = {base / 'mariadb.sock'}",
        f"datadir                   = {base / 'data'}",
        f"pid_file                  = {base / 'mariadbd.pid'}",
        f"log_error                 = {layout.log_file(f'mariadb-{role}')}",
        f"log_bin                   = {base / 'data' / 'mariadb-bin'}",
        f"slow_query_log_file       = {base / 'slow.log'}",
        f"general_log_file          = {base / 'general.log'}",
        f"tmpdir                    = {base / 'tmp'}",
        f"innodb_buffer_pool_size   = {MARIADB_BUFFER_POOL}",
        "skip_name_resolve         = ON",
        # The statement counters the load bench divides by its requests.
        "performance_schema        = OFF",
    ]
    if role == "replica":
        lines.append(f"relay_log                 = {base / 'data' / 'relay-bin'}")
    return "\n".join(lines) + "\n"


def render_setup_sql(source: str, *, passwords: dict[str, str]) -> str:
    """deploy/mariadb/setup-replication.sql with the local host and this stack's passwords."""
    replacements = {
        "'10.%'": "'127.0.0.1'",
        "CHANGE_ME_REPL": passwords["repl"],
        "CHANGE_ME_APP": passwords["app"],
        "CHANGE_ME_RO": passwords["ro"],
    }
    for old, new in replacements.items():
        if old not in source:
            raise ValueError(f"deploy/mariadb/setup-replication.sql changed: no {old!r}")
        source = source.replace(old, new)
    return source


UPSTREAM_SERVER = re.compile(
    r"^(?P<indent>[ \t]*)server 127\.0\.0\.1:8000(?P<params>[^;]*);$", re.M
)


def render_nginx_conf(
    source: str, *, listen_port: int, upstreams: Sequence[int], down: Iterable[int] = ()
) -> str:
    """deploy/nginx/nginx.conf with this stack's listen port and web servers.

    The one `server 127.0.0.1:8000 ...;` line of the upstream becomes one line per web server
    with the same parameters; a server in `down` is marked `down` (a rolling restart takes it
    out before stopping it: open-source nginx has no active health checks). A stack-only
    `return 200` location is added as the load bench's upper bound."""
    if "listen 80 backlog=4096;" not in source:
        raise ValueError("deploy/nginx/nginx.conf changed: no 'listen 80 backlog=4096;'")
    matches = UPSTREAM_SERVER.findall(source)
    if len(matches) != 1:
        raise ValueError("deploy/nginx/nginx.conf changed: need exactly one server 127.0.0.1:8000")
    down = set(down)

    def servers(match: re.Match[str]) -> str:
        indent, params = match["indent"], match["params"]
        return "\n".join(
            f"{indent}server 127.0.0.1:{port}{params}{' down' if port in down else ''};"
            for port in upstreams
        )

    source = UPSTREAM_SERVER.sub(servers, source)
    source = source.replace(
        "listen 80 backlog=4096;", f"listen 127.0.0.1:{listen_port} backlog=4096;"
    )
    bench_location = (
        "        # make stack only: the load bench's upper bound (nginx alone, no upstream).\n"
        "        location = /_stack/return200 {\n"
        "            default_type application/json;\n"
        '            return 200 \'{"data":{"ok":true},"meta":{}}\';\n'
        "        }\n\n"
        "        location / {"
    )
    if source.count("        location / {") != 1:
        raise ValueError("deploy/nginx/nginx.conf changed: need exactly one 'location / {'")
    return source.replace("        location / {", bench_location)


def render_env(*, layout: Layout, passwords: dict[str, str]) -> dict[str, str]:
    """The one environment every process of the stack reads (STACK_DIR/env)."""
    primary, replica = layout.port("mariadb-primary"), layout.port("mariadb-replica")
    coordination = layout.port("redis-coordination")
    # The app reaches the broker through the stack's fault proxy (pass-through unless a drill
    # says otherwise), so the broker alone can be made unreachable.
    proxy = layout.port("broker-proxy")
    if layout.broker == "rabbitmq":
        vhost = layout.rabbitmq_vhost
        broker = f"amqp://{vhost}:{passwords['rabbitmq']}@127.0.0.1:{proxy}/{vhost}"
    else:
        broker = f"redis://127.0.0.1:{proxy}/1"
    return {
        "DEBUG": "0",
        "SECRET_KEY": passwords["secret_key"],
        "JWT_SIGNING_KEY": passwords["jwt"],
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # TLS would end at nginx; this stack is plain HTTP on loopback.
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
        "SECURE_HSTS_PRELOAD": "0",
        "DATABASE_URL": f"mysql://platform:{passwords['app']}@127.0.0.1:{primary}/platform",
        "DATABASE_REPLICA_URLS": f"mysql://platform_ro:{passwords['ro']}@127.0.0.1:{replica}/platform",
        "REDIS_URL": f"redis://127.0.0.1:{coordination}/0",
        "REDIS_CACHE_URL": f"redis://127.0.0.1:{layout.port('redis-cache')}/0",
        "CELERY_BROKER_URL": broker,
        # nginx on loopback is the trusted proxy (deploy/nginx/real_ip.conf is rendered to match).
        "TRUSTED_PROXIES": "127.0.0.1",
        "SYNC_PROVIDER_URL": f"http://127.0.0.1:{layout.port('provider-stub')}",
        "SYNC_PROVIDER_TOKEN": passwords["provider"],
        "SITE_URL": layout.url,
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
        "LOG_LEVEL": "INFO",
        "LOG_JSON": "0",
        "CELERY_WORKER_METRICS_ADDR": "127.0.0.1",
        "CELERY_WORKER_METRICS_PORT": "0",
        # One base for the host; each process kind writes its own subdirectory (monitoring.multiproc).
        "PROMETHEUS_MULTIPROC_DIR": str(layout.stack_dir / "metrics"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }


def env_file_text(env: dict[str, str]) -> str:
    lines = ["# Generated by deploy/stack/stack.py: the one environment of every stack process."]
    lines += [f"{key}={value}" for key, value in sorted(env.items())]
    return "\n".join(lines) + "\n"


def _running_broker(stack_dir: Path) -> str | None:
    path = stack_dir / "env"
    if not path.is_file():
        return None
    url = env_file_read(path).get("CELERY_BROKER_URL", "")
    return "rabbitmq" if url.startswith("amqp") else "redis" if url else None


def env_file_read(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key.strip()] = value
    return env


# ------------------------------------------------------------------------------ processes


@dataclass
class Proc:
    """One process of the stack: how to start it and how to tell it is ready."""

    name: str
    command: list[str]
    port: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    ready: str = "port"  # "port" (TCP accept), "http" (GET ready_path answers), "alive"
    ready_path: str = "/api/health/live"
    stop_seconds: float = 30.0


class Stack:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    # ---------------------------------------------------------------- secrets and env
    def passwords(self) -> dict[str, str]:
        path = self.layout.stack_dir / "secrets.json"
        if path.exists():
            return json.loads(path.read_text())
        values = {
            name: secrets.token_hex(16) for name in ("repl", "app", "ro", "provider", "rabbitmq")
        }
        values["secret_key"] = secrets.token_urlsafe(50)
        values["jwt"] = secrets.token_urlsafe(50)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=1))
        path.chmod(0o600)
        return values

    @property
    def env_path(self) -> Path:
        return self.layout.stack_dir / "env"

    def env(self) -> dict[str, str]:
        """The process environment: the machine's PATH etc. plus STACK_DIR/env."""
        base = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DATABASE_", "REDIS_", "CELERY_", "PROMETHEUS_", "WEB_"))
        }
        return {**base, **env_file_read(self.env_path)}

    def write_env(self) -> None:
        self.env_path.write_text(
            env_file_text(render_env(layout=self.layout, passwords=self.passwords()))
        )

    # ---------------------------------------------------------------- process table
    def procs(self) -> list[Proc]:
        """Start order; `down` stops in the reverse order."""
        layout = self.layout
        procs = [
            Proc(
                name=f"mariadb-{role}",
                command=[
                    tool("mariadbd"),
                    f"--defaults-file={layout.mariadb_dir(role) / 'my.cnf'}",
                    "--user=root",
                ],
                port=layout.port(f"mariadb-{role}"),
                stop_seconds=120,
            )
            for role in ("primary", "replica")
        ]
        for role, maxmemory in (
            ("cache", REDIS_CACHE_MAXMEMORY),
            ("coordination", REDIS_COORDINATION_MAXMEMORY),
        ):
            name = f"redis-{role}"
            directory = layout.stack_dir / name
            procs.append(
                Proc(
                    name=name,
                    command=[
                        tool("redis-server"),
                        str(DEPLOY / "redis" / f"{name}.conf"),
                        "--port",
                        str(layout.port(name)),
                        "--bind",
                        "127.0.0.1",
                        "--dir",
                        str(directory),
                        "--maxmemory",
                        maxmemory,
                        "--daemonize",
                        "no",
                        "--logfile",
                        str(layout.log_file(name)),
                    ],
                    port=layout.port(name),
                )
            )
        broker_upstream = (
            RABBITMQ_PORT if layout.broker == "rabbitmq" else layout.port("redis-coordination")
        )
        procs.append(
            Proc(
                name="broker-proxy",
                command=[
                    str(VENV_BIN / "python"),
                    str(DEPLOY / "dev" / "faultproxy.py"),
                    "serve",
                    "--listen",
                    f"127.0.0.1:{layout.port('broker-proxy')}",
                    "--upstream",
                    f"127.0.0.1:{broker_upstream}",
                    "--control",
                    f"127.0.0.1:{layout.port('broker-proxy-control')}",
                ],
                port=layout.port("broker-proxy"),
            )
        )
        procs.append(
            Proc(
                name="provider-stub",
                command=[
                    str(VENV_BIN / "python"),
                    "manage.py",
                    "run_provider_stub",
                    "--port",
                    str(layout.port("provider-stub")),
                ],
                port=layout.port("provider-stub"),
            )
        )
        for web in WEB_SERVERS:
            procs.append(self.web_proc(web))
        for queue in QUEUES:
            name = f"worker-{queue}"
            procs.append(
                Proc(
                    name=name,
                    command=[
                        str(VENV_BIN / "celery"),
                        "-A",
                        "config",
                        "worker",
                        "-Q",
                        queue,
                        "-n",
                        f"{queue}@stack-{layout.front_port}",
                        f"--concurrency={WORKER_CONCURRENCY[queue]}",
                        "--max-tasks-per-child=1000",
                        "-l",
                        "INFO",
                    ],
                    port=layout.port(name),
                    env={"CELERY_WORKER_METRICS_PORT": str(layout.port(name))},
                    stop_seconds=30,
                )
            )
        procs.append(
            Proc(
                name="beat",
                command=[
                    str(VENV_BIN / "celery"),
                    "-A",
                    "config",
                    "beat",
                    "-l",
                    "INFO",
                    "-s",
                    str(layout.stack_dir / "celerybeat-schedule"),
                ],
                ready="alive",
            )
        )
        prefix = layout.nginx_prefix()
        procs.append(
            Proc(
                name="nginx",
                command=[
                    tool("nginx"),
                    "-p",
                    f"{prefix}/",
                    "-c",
                    str(prefix / "conf" / "nginx.conf"),
                    "-g",
                    "daemon off;",
                ],
                port=layout.front_port,
                ready="http",
                ready_path="/_stack/return200",
            )
        )
        return procs

    def web_proc(self, web: str) -> Proc:
        layout = self.layout
        return Proc(
            name=web,
            command=[str(DEPLOY / "web")],
            port=layout.port(web),
            env={
                "WEB_BIND": f"127.0.0.1:{layout.port(web)}",
                "WEB_WORKERS": str(layout.web_workers),
                "DRAIN_FILE": str(layout.drain_file(web)),
                **(
                    {}
                    if web == WEB_SERVERS[0]
                    # One web server per metrics base: a starting gunicorn empties base/web/.
                    else {"PROMETHEUS_MULTIPROC_DIR": str(layout.stack_dir / f"metrics-{web}")}
                ),
            },
            ready="http",
            stop_seconds=40,  # gunicorn's graceful_timeout is 30 s
        )

    def proc(self, name: str) -> Proc:
        for proc in self.procs():
            if proc.name == name:
                return proc
        raise SystemExit(f"no process {name!r}; known: {', '.join(p.name for p in self.procs())}")

    # ---------------------------------------------------------------- pid bookkeeping
    def pid(self, name: str) -> int | None:
        """The pid from the pid file when that process (a session leader we started) lives."""
        try:
            pid = int(self.layout.pid_file(name).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if process_is_ours(pid) else None

    def start(self, proc: Proc, *, extra_env: dict[str, str] | None = None) -> int:
        running = self.pid(proc.name)
        if running:
            return running
        self.layout.logs.mkdir(parents=True, exist_ok=True)
        self.layout.pids.mkdir(parents=True, exist_ok=True)
        env = {**self.env(), **proc.env, **(extra_env or {})}
        with open(self.layout.log_file(proc.name), "ab") as output:
            output.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} start {proc.name}\n".encode())
            output.flush()
            process = subprocess.Popen(
                proc.command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as one, by its pid
            )
        self.layout.pid_file(proc.name).write_text(f"{process.pid}\n")
        return process.pid

    def wait_ready(self, proc: Proc, *, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid(proc.name) is None:
                tail = tail_file(self.layout.log_file(proc.name))
                raise SystemExit(f"{proc.name} exited during start; log:\n{tail}")
            if (
                proc.ready == "alive"
                or (proc.ready == "port" and proc.port and port_open(proc.port))
                or (
                    proc.ready == "http"
                    and http_ok(f"http://127.0.0.1:{proc.port}{proc.ready_path}")
                )
            ):
                if proc.ready == "alive":
                    time.sleep(2)  # still alive after start-up: it did not die on import
                    if self.pid(proc.name) is None:
                        continue
                return
            time.sleep(0.2)
        raise SystemExit(
            f"{proc.name} not ready after {timeout:.0f} s; see {self.layout.log_file(proc.name)}"
        )

    def stop(self, name: str, *, timeout: float | None = None, sig: int = signal.SIGTERM) -> bool:
        """Signal the process, wait for its whole group to end, then SIGKILL what is left."""
        pid = self.pid(name)
        if pid is None:
            self.layout.pid_file(name).unlink(missing_ok=True)
            return False
        proc_timeout = timeout if timeout is not None else self.proc(name).stop_seconds
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + proc_timeout
        while time.monotonic() < deadline and group_alive(pid):
            time.sleep(0.1)
        if group_alive(pid):
            log(f"{name}: still running after {proc_timeout:.0f} s, SIGKILL to its group")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            for _ in range(50):
                if not group_alive(pid):
                    break
                time.sleep(0.1)
        self.layout.pid_file(name).unlink(missing_ok=True)
        return True

    # ---------------------------------------------------------------- up
    def up(self) -> None:
        started = time.monotonic()
        layout = self.layout
        for directory in (layout.pids, layout.logs, layout.run):
            directory.mkdir(parents=True, exist_ok=True)
        self.passwords()
        self.write_env()
        procs = {proc.name: proc for proc in self.procs()}

        self.mariadb_prepare()
        for role in ("primary", "replica"):
            self.start(procs[f"mariadb-{role}"])
        for role in ("primary", "replica"):
            self.wait_ready(procs[f"mariadb-{role}"], timeout=120)
        self.replication_setup()

        for name in ("redis-cache", "redis-coordination"):
            (layout.stack_dir / name).mkdir(exist_ok=True)
            self.start(procs[name])
        for name in ("redis-cache", "redis-coordination"):
            self.wait_ready(procs[name])
        if layout.broker == "rabbitmq":
            self.rabbitmq_setup()

        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("collectstatic", "--noinput", "-v", "0")
        if layout.seed_users > 0:
            self.seed()
        self.replica_catch_up()

        apps = ("broker-proxy", "provider-stub", *WEB_SERVERS, *(f"worker-{q}" for q in QUEUES))
        for name in (*apps, "beat"):
            self.start(procs[name])
        self.nginx_render()
        self.start(procs["nginx"])
        for name in (*apps, "beat", "nginx"):
            self.wait_ready(procs[name], timeout=120)
        self.manage("warm_stats")
        document = self.wait_healthy(timeout=120)
        log(f"up in {time.monotonic() - started:.0f} s: {layout.url} health={json.dumps(document)}")

    def manage(self, *args: str, capture: bool = False) -> str:
        result = subprocess.run(
            [str(VENV_BIN / "python"), "manage.py", *args],
            cwd=ROOT,
            # Migrations and bulk seeding are slow queries by nature: no warning per statement.
            env={**self.env(), "LOG_LEVEL": "ERROR"},
            check=True,
            capture_output=capture,
            text=True,
        )
        return result.stdout if capture else ""

    def seed(self) -> None:
        users = self.layout.seed_users
        # Sizes from core seed_demo: 100,000 users → 100,000 orders, 10,000 posts, 100,000 tasks.
        log(f"seeding {users} users (skipped when users exist)")
        self.manage(
            "seed_demo",
            "--if-empty",
            "--users",
            str(users),
            "--orders",
            str(users),
            "--posts",
            str(max(1, users // 10)),
            "--tasks",
            str(users),
        )

    # ---------------------------------------------------------------- mariadb
    def mariadb_prepare(self) -> None:
        for role in ("primary", "replica"):
            base = self.layout.mariadb_dir(role)
            (base / "tmp").mkdir(parents=True, exist_ok=True)
            (base / "my.cnf").write_text(render_mariadb_cnf(layout=self.layout, role=role))
            if (base / "data" / "mysql").is_dir():
                continue
            log(f"mariadb-install-db for the {role}")
            subprocess.run(
                [
                    tool("mariadb-install-db"),
                    "--no-defaults",
                    f"--datadir={base / 'data'}",
                    "--user=root",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )

    def sql(self, role: str, statement: str, *, database: str = "") -> str:
        command = [tool("mariadb"), f"--socket={self.layout.socket(role)}", "-uroot", "-N", "-B"]
        if database:
            command.append(database)
        result = subprocess.run(
            command, input=statement, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"SQL on the {role} failed: {result.stderr.strip()}")
        return result.stdout

    def replication_setup(self) -> None:
        """Users and database from deploy/mariadb/setup-replication.sql on the primary (the
        replica receives them through replication), then the replica follows by GTID."""
        marker = self.layout.mariadb_dir("replica") / "replicating"
        if marker.exists():
            return
        passwords = self.passwords()
        source = (DEPLOY / "mariadb" / "setup-replication.sql").read_text()
        self.sql("primary", render_setup_sql(source, passwords=passwords))
        self.sql(
            "replica",
            "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL gtid_slave_pos='';"
            f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={self.layout.port('mariadb-primary')},"
            f" MASTER_USER='repl', MASTER_PASSWORD='{passwords['repl']}', MASTER_USE_GTID=slave_pos,"
            " MASTER_CONNECT_RETRY=1;"
            "START SLAVE;",
        )
        marker.write_text("1\n")
        self.replica_catch_up()

    def replica_catch_up(self, *, timeout: float = 300) -> None:
        position = self.sql("primary", "SELECT @@gtid_binlog_pos").strip()
        if not position:
            return
        answer = self.sql("replica", f"SELECT MASTER_GTID_WAIT('{position}', {timeout})").strip()
        if answer != "0":
            status = self.sql("replica", "SHOW SLAVE STATUS\\G")
            raise SystemExit(f"replica did not reach {position}:\n{status}")

    # ---------------------------------------------------------------- rabbitmq
    def rabbitmqctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [tool("rabbitmqctl"), "-q", *args], capture_output=True, text=True, check=check
        )

    def rabbitmq_setup(self) -> None:
        """A vhost and user of this stack on the machine's RabbitMQ (nothing else touched)."""
        vhost, password = self.layout.rabbitmq_vhost, self.passwords()["rabbitmq"]
        if vhost not in self.rabbitmqctl("list_vhosts").stdout.split():
            self.rabbitmqctl("add_vhost", vhost)
        if vhost not in self.rabbitmqctl("list_users").stdout.split():
            self.rabbitmqctl("add_user", vhost, password)
        self.rabbitmqctl("set_permissions", "-p", vhost, vhost, ".*", ".*", ".*")

    def rabbitmq_teardown(self) -> None:
        if not shutil.which("rabbitmqctl", path=tool_path()):
            return
        vhost = self.layout.rabbitmq_vhost
        if vhost in self.rabbitmqctl("list_vhosts", check=False).stdout.split():
            self.rabbitmqctl("delete_vhost", vhost, check=False)
        if vhost in self.rabbitmqctl("list_users", check=False).stdout.split():
            self.rabbitmqctl("delete_user", vhost, check=False)

    # ---------------------------------------------------------------- nginx
    def nginx_render(self, *, down: Iterable[str] = ()) -> None:
        prefix = self.layout.nginx_prefix()
        for sub in ("logs", "run", "temp", "cache", "conf"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("temp", "cache", "logs"):
            os.chmod(prefix / sub, 0o777)  # noqa: S103 (unprivileged nginx workers write here)
        source = (DEPLOY / "nginx" / "nginx.conf").read_text()
        rendered = render_nginx_conf(
            source,
            listen_port=self.layout.front_port,
            upstreams=[self.layout.port(web) for web in WEB_SERVERS],
            down=[self.layout.port(web) for web in down],
        )
        (prefix / "conf" / "nginx.conf").write_text(rendered)
        # Only this nginx's own address is a trusted proxy here (wrk sends X-Forwarded-For from
        # loopback to simulate clients behind a load balancer).
        (prefix / "conf" / "real_ip.conf").write_text("set_real_ip_from 127.0.0.1;\n")
        subprocess.run(
            [
                tool("nginx"),
                "-t",
                "-q",
                "-p",
                f"{prefix}/",
                "-c",
                str(prefix / "conf" / "nginx.conf"),
            ],
            check=True,
        )

    def nginx_reload(self, *, down: Iterable[str] = ()) -> None:
        """Re-render the upstream and reload: old workers finish their requests first."""
        self.nginx_render(down=down)
        pid = self.pid("nginx")
        if pid:
            os.kill(pid, signal.SIGHUP)
            time.sleep(0.5)  # new workers take over within milliseconds

    # ---------------------------------------------------------------- health
    def health(self, *, timeout: float = 3.0) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(
                f"{self.layout.url}/api/health", timeout=timeout
            ) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                return exc.code, json.loads(exc.read())
            except ValueError:
                return exc.code, {}
        except (OSError, ValueError) as exc:
            return 0, {"error": str(exc)}

    def all_ok(self, document: dict) -> bool:
        services = document.get("services") or {}
        required = ("database", "replicas", "cache", "coordination")
        queue_ok = services.get("queue") == "ok" or (
            # The health probe measures Redis brokers only.
            self.layout.broker == "rabbitmq" and services.get("queue") == "not_configured"
        )
        return all(services.get(name) == "ok" for name in required) and queue_ok

    def wait_healthy(self, *, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        document: dict = {}
        while time.monotonic() < deadline:
            status, document = self.health()
            if status == 200 and self.all_ok(document):
                return document
            time.sleep(1)
        raise SystemExit(f"health not ok after {timeout:.0f} s: {json.dumps(document)}")

    # ---------------------------------------------------------------- status / down
    def status(self) -> int:
        down = 0
        print(f"{'process':<20} {'pid':>8} {'port':>6}  state")
        for proc in self.procs():
            pid = self.pid(proc.name)
            listening = proc.port is None or port_open(proc.port)
            is_up = pid is not None and listening
            down += not is_up
            print(
                f"{proc.name:<20} {pid or '-':>8} {proc.port or '-':>6}  {'up' if is_up else 'down'}"
            )
        status, document = self.health()
        print(json.dumps({"http_status": status, **document}, indent=2))
        # "slow" (a probe over 100 ms on a busy box) is up; "down" or no answer is not.
        services = document.get("services") or {}
        if down or status != 200 or "down" in services.values() or not services:
            return 1
        return 0

    def down(self) -> None:
        for proc in reversed(self.procs()):
            if self.stop(proc.name):
                log(f"stopped {proc.name}")
        uses_rabbitmq = self.env_path.exists() and "amqp://" in self.env_path.read_text()
        if self.layout.broker == "rabbitmq" or uses_rabbitmq:
            self.rabbitmq_teardown()
        leftovers = [proc for proc in self.procs() if proc.port and port_open(proc.port)]
        if leftovers:
            raise SystemExit(f"ports still listening: {[(p.name, p.port) for p in leftovers]}")

    # ---------------------------------------------------------------- rolling restart
    def restart_web(self, web: str, *, extra_env: dict[str, str] | None = None) -> dict[str, float]:
        """Drain (out of nginx, health 503), stop gracefully, start, wait, back into nginx."""
        timings: dict[str, float] = {}
        started = time.monotonic()
        self.layout.drain_file(web).write_text(f"{time.time() + 3600:.3f}\n")
        self.nginx_reload(down=[web])
        time.sleep(1.0)  # requests routed before the reload finish on the old nginx workers
        self.stop(web)
        timings["stopped_s"] = time.monotonic() - started
        self.layout.drain_file(web).unlink(missing_ok=True)
        self.start(self.web_proc(web), extra_env=extra_env)
        self.wait_ready(self.web_proc(web), timeout=120)
        self.nginx_reload()
        timings["back_s"] = time.monotonic() - started
        return timings


# ------------------------------------------------------------------------------ helpers


def tool_path() -> str:
    return os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin:/sbin:/bin"


def tool(name: str) -> str:
    found = shutil.which(name, path=tool_path())
    if not found:
        raise SystemExit(f"{name} not found (make stack installs the Debian packages)")
    return found


def ensure_packages(*, broker: str) -> None:
    """apt-get install what is missing (never upgrades or reconfigures what is there)."""
    wanted = list(DEBIAN_PACKAGES)
    if broker == "rabbitmq":
        wanted.append(("rabbitmq-server", "rabbitmqctl"))
    missing = []
    for package, binary in wanted:
        if binary and shutil.which(binary, path=tool_path()):
            continue
        installed = (
            subprocess.run(["dpkg", "-s", package], capture_output=True, check=False).returncode
            == 0
        )
        if not installed:
            missing.append(package)
    if not missing:
        return
    log(f"installing {' '.join(missing)}")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def process_is_ours(pid: int) -> bool:
    """Alive and the leader of its own process group (how this script starts everything)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    fields = stat.rsplit(")", 1)[1].split()
    state, pgrp = fields[0], int(fields[2])
    return state != "Z" and pgrp == pid


def group_alive(pgid: int) -> bool:
    """Any live (non-zombie) process in the group."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def port_open(port: int, *, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300
    except (OSError, ValueError):
        return False


def tail_file(path: Path, *, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "action",
        choices=[
            "packages",
            "up",
            "status",
            "down",
            "clean",
            "restart-web",
            "stop",
            "start",
            "env",
            "nginx-reload",
        ],
    )
    parser.add_argument("name", nargs="?")
    args = parser.parse_args(argv)
    stack = Stack(Layout.from_env())
    if args.action == "packages":
        ensure_packages(broker=stack.layout.broker)
    elif args.action == "up":
        stack.up()
    elif args.action == "status":
        return stack.status()
    elif args.action == "down":
        stack.down()
    elif args.action == "clean":
        stack.down()
        shutil.rmtree(stack.layout.stack_dir, ignore_errors=True)
    elif args.action == "restart-web":
        print(json.dumps(stack.restart_web(args.name or "web-1")))
    elif args.action == "stop":
        stack.stop(args.name)
    elif args.action == "start":
        proc = stack.proc(args.name)
        stack.start(proc)
        stack.wait_ready(proc)
    elif args.action == "nginx-reload":
        stack.nginx_reload()
    elif args.action == "env":
        print(stack.env_path.read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
