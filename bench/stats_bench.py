"""GET /api/stats under load (`make bench-stats`): a benchmark, not a test.

Over 400 lines on purpose: one self-contained benchmark script (starts its own Redis, web
servers and nginx, seeds, measures, reports) run on its own outside the test suite.

Starts its own Redis (deploy/redis/redis-coordination.conf), the web server through
`deploy/web` once per app server tried (gunicorn sync, gunicorn gthread, granian WSGI; the
same worker count each), and nginx (deploy/nginx/nginx.conf, rendered into a temp prefix),
all on 127.0.0.1; loads users and orders into MariaDB database `--db-name`; then measures with
wrk and a random client IP per request in X-Forwarded-For (127.0.0.1 is the trusted proxy).

Per app server, in interleaved rounds (every row of every server once per round, so the load
of a shared machine hits all rows alike):

  (a0)   a plain function view, NO middleware (bench/statsbench/bare_settings.py): yardstick
  (a)    the same view under /api/ with the project's middleware
  (conv) the conventional design: django-redis cache-aside + django-ratelimit per client IP,
         same middleware, same trusted-proxy client IP, same 60/min per IP
  (b)    /api/stats warm

With `--before-root DIR` (a checkout of an older commit) its gunicorn sync rows (a0) (a) (b)
run in the same rounds, for the before/after overhead (a) - (a0). Then, once:

  (b0) /api/stats from cold (entry, LKG and lock flushed first)          first server
  (c)  /api/stats via the deploy nginx config (microcache + limit_req)   nginx -> first server
  (d)  nginx `return 200` of the same body behind the same real_ip + limit_req zone
  (e)  naive DRF view running both aggregates per request (--naive-duration > 0)

Prints req/s, p50/p99, status counts and the aggregate statements that reached MariaDB in
each run; writes bench/results/stats.md. Full scale (the issue's): --users 1000000
--orders 3000000 (the defaults); use smaller numbers on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
VENV_BIN = ROOT / ".venv" / "bin"
RESULTS = BENCH_DIR / "results" / "stats.md"
AGGREGATES_KEY = "bench:aggregates"

# App servers tried, all through deploy/web with the same WEB_WORKERS.
SERVERS: dict[str, dict[str, str]] = {
    "gunicorn sync": {"WEB_SERVER": "gunicorn", "GUNICORN_WORKER_CLASS": "sync"},
    # 4 threads per worker: the sync path is short, threads mostly wait on Redis/MariaDB.
    "gunicorn gthread": {
        "WEB_SERVER": "gunicorn",
        "GUNICORN_WORKER_CLASS": "gthread",
        "GUNICORN_THREADS": "4",
    },
    "granian": {"WEB_SERVER": "granian"},
}
# (row, path, bare settings?) measured on every server, in this order within a round.
ROWS = (
    ("(a0)", "/bench/bare", True),
    ("(a)", "/api/bench/constant", False),
    ("(conv)", "/api/bench/conv", False),
    ("(b)", "/api/stats", False),
)
BEFORE = "before: gunicorn sync"

WRK_SCRIPT = r"""
local pool = __POOL__
local counter = 0
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    statuses = {}
    math.randomseed(os.time() + math.floor(os.clock() * 1000000) + tonumber(tostring({}):sub(8), 16))
end

request = function()
    local n = math.random(0, pool - 1)
    local ip = "100." .. (64 + math.floor(n / 65536) % 64) .. "." .. (math.floor(n / 256) % 256) .. "." .. (n % 256)
    return wrk.format("GET", nil, {["X-Forwarded-For"] = ip})
end

function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
    local merged = {}
    for _, thread in ipairs(threads) do
        local counts = thread:get("statuses")
        for status, count in pairs(counts) do
            merged[status] = (merged[status] or 0) + count
        end
    end
    local parts = {}
    for status, count in pairs(merged) do
        table.insert(parts, string.format('"%d":%d', status, count))
    end
    local errors = summary.errors
    io.write(string.format(
        'WRKJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
        '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"statuses":{%s}}\n',
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
        latency.max, errors.connect, errors.read, errors.write, errors.timeout,
        table.concat(parts, ",")))
end
"""


@dataclass
class RunResult:
    label: str
    target: str
    connections: int
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]
    errors: dict[str, int]
    aggregates: int
    notes: list[str] = field(default_factory=list)
    server: str = ""
    row: str = ""

    @property
    def non_2xx(self) -> int:
        return sum(count for status, count in self.statuses.items() if not status.startswith("2"))

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status.startswith("5"))


def log(message: str) -> None:
    sys.stderr.write(f"[stats-bench] {message}\n")
    sys.stderr.flush()


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def deploy_web_start(
    *,
    env: dict[str, str],
    log_path: Path,
    ready_url: str,
    processes: list[subprocess.Popen],
    root: Path = ROOT,
) -> subprocess.Popen:
    """Start `deploy/web` of checkout `root` with `env` (WEB_BIND included), output to
    `log_path`; it joins `processes` (the caller stops them) before the wait for `ready_url`.
    Generous wait: on a loaded 2-core machine a worker can take a minute to import Django."""
    log_file = open(log_path, "w")  # noqa: SIM115 (lives as long as the process)
    process = subprocess.Popen(
        [str(root / "deploy" / "web")],
        cwd=root,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    processes.append(process)
    wait_http(ready_url, timeout_seconds=240)
    return process


def wait_http(url: str, *, timeout_seconds: float = 60) -> None:
    deadline = time.monotonic() + timeout_seconds
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                response.read()
                return
        except Exception as exc:  # not up yet
            last = exc
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up: {last}")


def bench_env(*, database_url: str, redis_port: int) -> dict[str, str]:
    """The environment every benchmarked web server runs with: production settings (DEBUG
    off) on a private Redis, behind a trusted local proxy; no multiprocess metrics dir."""
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-0123456789abcdef0123456789abcdef",
        "JWT_SIGNING_KEY": "bench-only-jwt-key-0123456789abcdef0123456789abcdef",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
        "DATABASE_URL": database_url,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "REDIS_CACHE_URL": f"redis://127.0.0.1:{redis_port}/1",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/2",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "TRUSTED_PROXIES": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "statsbench.settings",
        "PYTHONPATH": f"{ROOT}:{BENCH_DIR}",
        "GUNICORN_LOG_LEVEL": "warning",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def ensure_tools() -> None:
    missing = [tool for tool in ("nginx", "wrk") if not shutil.which(tool, path=_tool_path())]
    if not missing:
        return
    log(f"installing {missing} with apt-get")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nginx-light", "wrk"],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def _tool_path() -> str:
    return os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin"


def tool(name: str) -> str:
    found = shutil.which(name, path=_tool_path())
    if not found:
        raise RuntimeError(f"{name} not found")
    return found


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="stats-bench-"))
        self.redis_port = free_port()
        self.nginx_port = free_port()
        self.processes: list[subprocess.Popen] = []
        # name -> base URL of each web server started (e.g. "granian" and "granian bare").
        self.servers: dict[str, str] = {}
        self.upstream_port = 0
        self.database_url = f"mysql://root@127.0.0.1:3306/{args.db_name}"
        self.env = {
            **bench_env(database_url=self.database_url, redis_port=self.redis_port),
            # Short shared-cache lifetime so the nginx microcache expires several times a run.
            "STATS_HTTP_MAX_AGE_SECONDS": str(args.microcache_seconds),
            "WEB_WORKERS": str(args.workers),
        }
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)

    # ------------------------------------------------------------------ setup
    def manage(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(VENV_BIN / "python"), "manage.py", *argv],
            cwd=ROOT,
            env={**self.env, "DJANGO_SETTINGS_MODULE": "config.settings"},
            check=True,
            capture_output=True,
            text=True,
        )

    def prepare_database(self) -> dict[str, float]:
        import MySQLdb

        conn = MySQLdb.connect(host="127.0.0.1", port=3306, user="root")
        with closing(conn.cursor()) as cursor:
            cursor.execute(
                f"CREATE DATABASE IF NOT EXISTS `{self.args.db_name}` "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
        conn.close()
        # Only the tables this bench needs (stats and what it depends on: users, auth).
        self.manage("migrate", "stats", "--noinput", "-v", "0")
        self.manage("migrate", "sessions", "--noinput", "-v", "0")
        users, orders = self.row_counts()
        timings: dict[str, float] = {}
        want_users, want_orders = self.args.users, self.args.orders
        if users < want_users or orders < want_orders:
            log(f"seeding: have {users} users / {orders} orders; want {want_users} / {want_orders}")
            started = time.monotonic()
            self.manage(
                "seed_demo",
                "--users",
                str(max(0, want_users - users)),
                "--orders",
                str(max(0, want_orders - orders)),
            )
            timings["seed_seconds"] = time.monotonic() - started
            log(f"seeded in {timings['seed_seconds']:.1f}s")
        timings["users"], timings["orders"] = self.row_counts()
        return timings

    def row_counts(self) -> tuple[int, int]:
        import MySQLdb

        conn = MySQLdb.connect(host="127.0.0.1", port=3306, user="root", db=self.args.db_name)
        with closing(conn.cursor()) as cursor:
            cursor.execute("SELECT COUNT(*) FROM accounts_user")
            users = int(cursor.fetchone()[0])
            cursor.execute("SELECT COUNT(*) FROM stats_order")
            orders = int(cursor.fetchone()[0])
        conn.close()
        return users, orders

    def refresh_timings(self, *, source: str) -> list[float]:
        """Time stats_compute() 3 times in a fresh interpreter, with STATS_SOURCE=`source`
        (counters: after one reconcile, whose duration is the first number returned)."""
        code = (
            "import django, time, json; django.setup()\n"
            "from stats.services import stats_compute\n"
            "from stats.counters import counters_reconcile\n"
            "out = []\n"
            f"if {source!r} == 'counters':\n"
            "    t = time.perf_counter(); counters_reconcile(); out.append(time.perf_counter() - t)\n"
            "for _ in range(3):\n"
            "    t = time.perf_counter(); stats_compute(); out.append(time.perf_counter() - t)\n"
            "print(json.dumps(out))\n"
        )
        env = {
            **self.env,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "REDIS_URL": "",
            "STATS_SOURCE": source,
        }
        done = subprocess.run(
            [str(VENV_BIN / "python"), "-c", code],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    def start_redis(self) -> None:
        directory = self.tmp / "redis"
        directory.mkdir()
        process = subprocess.Popen(
            [
                tool("redis-server"),
                str(ROOT / "deploy" / "redis" / "redis-coordination.conf"),
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(directory),
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.redis().ping():
                    return
            except Exception:  # not accepting connections yet
                time.sleep(0.1)
        raise RuntimeError("redis did not start")

    def redis(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.redis_port, db=0, socket_timeout=5)

    def start_server(self, name: str, *, server: str, bare: bool, root: Path = ROOT) -> str:
        """Start `deploy/web` of checkout `root` with app server `server` (SERVERS); `bare`
        loads the no-middleware yardstick settings. Returns its base URL."""
        port = free_port()
        env = {
            **self.env,
            **SERVERS[server],
            "WEB_BIND": f"127.0.0.1:{port}",
            "BENCH_CODE_ROOT": str(root),
            "PYTHONPATH": f"{root}:{BENCH_DIR}",
            "VIRTUAL_ENV": str(VENV_BIN.parent),
        }
        if bare:
            env["DJANGO_SETTINGS_MODULE"] = "statsbench.bare_settings"
        base = f"http://127.0.0.1:{port}"
        deploy_web_start(
            env=env,
            log_path=self.tmp / f"{name.replace(' ', '-')}.log",
            ready_url=f"{base}/bench/bare" if bare else f"{base}/api/bench/constant",
            processes=self.processes,
            root=root,
        )
        self.servers[name] = base
        return base

    def start_nginx(self) -> None:
        prefix = self.tmp / "nginx"
        for sub in ("logs", "run", "temp", "cache", "conf"):
            (prefix / sub).mkdir(parents=True)
        os.chmod(self.tmp, 0o755)  # noqa: S103 (nginx workers must reach the prefix)
        for sub in ("temp", "cache", "logs"):
            os.chmod(prefix / sub, 0o777)  # noqa: S103 (unprivileged nginx workers write here)
        source = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text()
        replacements = {
            "listen 80 backlog=4096;": f"listen 127.0.0.1:{self.nginx_port} backlog=4096;",
            "server 127.0.0.1:8000 max_fails=3 fail_timeout=10s;": (
                f"server 127.0.0.1:{self.upstream_port} max_fails=0;"
            ),
            "        location / {": (
                "        location = /bench/return200 {\n"
                "            limit_req zone=stats burst=59 nodelay;\n"
                "            default_type application/json;\n"
                f"            return 200 '{self.stats_body()}';\n"
                "        }\n\n"
                "        location / {"
            ),
        }
        for old, new in replacements.items():
            if source.count(old) != 1:
                raise RuntimeError(f"deploy/nginx/nginx.conf changed: cannot find {old!r}")
            source = source.replace(old, new)
        conf = prefix / "conf" / "nginx.conf"
        conf.write_text(source)
        (prefix / "conf" / "real_ip.conf").write_text("set_real_ip_from 127.0.0.1;\n")
        nginx = tool("nginx")
        subprocess.run([nginx, "-t", "-q", "-p", f"{prefix}/", "-c", str(conf)], check=True)
        process = subprocess.Popen(
            [nginx, "-p", f"{prefix}/", "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)
        wait_http(f"http://127.0.0.1:{self.nginx_port}/bench/return200")
        # Fill the microcache once: on a cold miss nginx's cache-lock waiters poll every 500 ms,
        # a start-up artefact; the runs measure steady state and expiries (stale + update).
        wait_http(f"http://127.0.0.1:{self.nginx_port}/api/stats")

    def stats_body(self) -> str:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.upstream_port}/api/stats", timeout=30
        ) as response:
            return response.read().decode()

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ------------------------------------------------------------------ runs
    def reset_aggregates(self) -> None:
        self.redis().set(AGGREGATES_KEY, 0)

    def aggregates(self) -> int:
        return int(self.redis().get(AGGREGATES_KEY) or 0)

    def wrk(
        self, *, label: str, url: str, seconds: int, connections: int, timeout_seconds: int = 5
    ) -> RunResult:
        script = self.tmp / "random_ip.lua"
        script.write_text(WRK_SCRIPT.replace("__POOL__", str(self.args.ip_pool)))
        self.reset_aggregates()
        log(f"{label}: {url} for {seconds}s at {connections} connections")
        done = subprocess.run(
            [
                tool("wrk"),
                f"-t{self.args.wrk_threads}",
                f"-c{connections}",
                f"-d{seconds}s",
                f"--timeout={timeout_seconds}s",
                "-s",
                str(script),
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        line = next(x for x in done.stdout.splitlines() if x.startswith("WRKJSON "))
        data = json.loads(line.removeprefix("WRKJSON "))
        elapsed = data["duration_us"] / 1e6
        result = RunResult(
            label=label,
            target=url.split("127.0.0.1:")[1],
            connections=connections,
            seconds=elapsed,
            requests=data["requests"],
            rps=data["requests"] / elapsed if elapsed else 0.0,
            p50_ms=data["p50_us"] / 1000,
            p99_ms=data["p99_us"] / 1000,
            statuses=data["statuses"],
            errors=data["errors"],
            aggregates=self.aggregates(),
        )
        log(
            f"{label}: {result.rps:,.0f} req/s p50 {result.p50_ms:.2f} ms p99 {result.p99_ms:.2f} ms "
            f"statuses {result.statuses} errors {result.errors} aggregates {result.aggregates}"
        )
        return result

    def run(self) -> tuple[list[RunResult], dict[str, float], list[float], list[float]]:
        ensure_tools()
        seeding = self.prepare_database()
        log(f"database: {seeding}")
        refresh = self.refresh_timings(source="aggregates")
        log(f"refresh (two statements) seconds: {refresh}")
        counters = self.refresh_timings(source="counters")
        log(f"counters: reconcile then refresh seconds: {counters}")
        seeding["reconcile_seconds"] = counters[0]
        refresh_counters = counters[1:]
        self.start_redis()
        args = self.args
        servers = [name.strip() for name in args.servers.split(",") if name.strip()]
        for server in servers:
            self.start_server(server, server=server, bare=False)
            self.start_server(f"{server} bare", server=server, bare=True)
        if args.before_root:
            root = Path(args.before_root).resolve()
            self.start_server(BEFORE, server="gunicorn sync", bare=False, root=root)
            self.start_server(f"{BEFORE} bare", server="gunicorn sync", bare=True, root=root)
            servers.append(BEFORE)
        # Warm-up (not reported): every worker imports its views and opens its connections.
        for server in servers:
            for row, path, bare in ROWS:
                if server == BEFORE and row == "(conv)":
                    continue
                base = self.servers[f"{server} bare" if bare else server]
                self.wrk(label="warm-up", url=f"{base}{path}", seconds=2, connections=16)
        results: list[RunResult] = []
        for round_number in range(1, args.rounds + 1):
            for server in servers:
                for row, path, bare in ROWS:
                    if server == BEFORE and row == "(conv)":
                        continue  # the conventional view is the same code before and after
                    base = self.servers[f"{server} bare" if bare else server]
                    result = self.wrk(
                        label=f"{row} {server} round {round_number}",
                        url=f"{base}{path}",
                        seconds=args.short_duration,
                        connections=args.connections,
                    )
                    result.server, result.row = server, row
                    results.append(result)
        first = self.servers[servers[0]]
        self.upstream_port = int(first.rsplit(":", 1)[1])
        # From cold: no entry, no LKG, no lock; exactly one pair of aggregates expected.
        self.redis().flushdb()
        cold = self.wrk(
            label=f"(b0) /api/stats from cold, {servers[0]}",
            url=f"{first}/api/stats",
            seconds=args.duration,
            connections=args.connections,
        )
        cold.server, cold.row = servers[0], "(b0)"
        results.append(cold)
        self.start_nginx()
        nginx = f"http://127.0.0.1:{self.nginx_port}"
        for row, label, path, seconds in (
            (
                "(c)",
                f"/api/stats via nginx microcache -> {servers[0]}",
                "/api/stats",
                args.duration,
            ),
            (
                "(d)",
                "nginx return 200 (real_ip + limit_req)",
                "/bench/return200",
                args.short_duration,
            ),
        ):
            result = self.wrk(
                label=f"{row} {label}",
                url=f"{nginx}{path}",
                seconds=seconds,
                connections=args.connections,
            )
            result.server, result.row = "nginx", row
            results.append(result)
        if args.naive_duration > 0:
            naive = self.wrk(
                label="(e) naive DRF view, aggregates per request",
                url=f"{first}/bench/naive",
                seconds=args.naive_duration,
                connections=args.naive_connections,
                timeout_seconds=60,
            )
            naive.server, naive.row = servers[0], "(e)"
            results.append(naive)
        return results, seeding, refresh, refresh_counters


def _combined(runs: list[RunResult]) -> dict[str, float]:
    """One row from its rounds: summed requests over summed time, median p50/p99."""
    seconds = sum(r.seconds for r in runs)
    return {
        "rps": sum(r.requests for r in runs) / seconds if seconds else 0.0,
        "p50": statistics.median(r.p50_ms for r in runs),
        "p99": statistics.median(r.p99_ms for r in runs),
        "non_2xx": sum(r.non_2xx for r in runs),
        "errors": sum(sum(r.errors.values()) for r in runs),
        "rounds": len(runs),
    }


def overhead_us(*, with_middleware: float, bare: float) -> float:
    """(a) - (a0) per request, in CPU µs: the difference of the time per request at
    saturation (1 / req/s) times the cores it ran on (wrk shares them: an upper bound)."""
    if not with_middleware or not bare:
        return math.nan
    return (1 / with_middleware - 1 / bare) * 1e6 * (os.cpu_count() or 1)


def report(
    results: list[RunResult],
    seeding: dict[str, float],
    refresh: list[float],
    refresh_counters: list[float],
    args: argparse.Namespace,
) -> str:
    grouped: dict[tuple[str, str], list[RunResult]] = {}
    for r in results:
        grouped.setdefault((r.server, r.row), []).append(r)
    rows = {key: _combined(runs) for key, runs in grouped.items()}
    servers = list(dict.fromkeys(r.server for r in results if r.row in ("(a0)", "(a)", "(b)")))
    lines = [
        "# GET /api/stats benchmark",
        "",
        f"- Date (UTC): {time.strftime('%Y-%m-%d %H:%M', time.gmtime())}; "
        f"host: {os.cpu_count()} CPUs shared with wrk; load average at the start "
        f"{args.load_at_start:.1f}, at the end {os.getloadavg()[0]:.1f} (other work on the "
        "machine skews every absolute figure; the rows of one round ran back to back, so "
        "compare ratios)",
        f"- Command: `{' '.join(sys.argv)}`",
        f"- Data: {int(seeding['users']):,} users, {int(seeding['orders']):,} orders"
        + (f" (seeded in {seeding['seed_seconds']:.1f} s)" if "seed_seconds" in seeding else ""),
        "- Refresh (the two aggregate statements, 3 runs): "
        + ", ".join(f"{x * 1000:.0f} ms" for x in refresh)
        + f"; median {statistics.median(refresh) * 1000:.0f} ms",
        "- Refresh with STATS_SOURCE=counters (one read of 96 counter rows, 3 runs): "
        + ", ".join(f"{x * 1000:.1f} ms" for x in refresh_counters)
        + f"; the reconcile (recount + correction) took {seeding['reconcile_seconds']:.1f} s",
        f"- wrk: {args.wrk_threads} threads, {args.connections} connections, random "
        f"X-Forwarded-For from a pool of {args.ip_pool:,} IPs, trusted local proxy 127.0.0.1; "
        f"{args.workers} workers per server (deploy/web); {args.rounds} interleaved rounds of "
        f"{args.short_duration} s per row; microcache max-age {args.microcache_seconds} s"
        + (f"; before = `{args.before_label}`" if args.before_root else ""),
        "",
        "| server | row | req/s | p50 ms | p99 ms | non-2xx | socket errors |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for (server, row), c in rows.items():
        lines.append(
            f"| {server} | {row} | {c['rps']:,.0f} | {c['p50']:.2f} | {c['p99']:.2f} "
            f"| {c['non_2xx']:,} | {c['errors']:,} |"
        )

    def rps(server: str, row: str) -> float:
        return rows.get((server, row), {}).get("rps", 0.0)

    lines += ["", "## Per-request overhead of the middleware, (a) - (a0)", ""]
    for server in servers:
        lines.append(
            f"- {server}: {overhead_us(with_middleware=rps(server, '(a)'), bare=rps(server, '(a0)')):.0f} µs"
        )
    lines += ["", "## Targets", ""]
    sync = "gunicorn sync"
    chosen = args.chosen or servers[0]
    if rps(sync, "(conv)") and rps(chosen, "(b)"):
        lines.append(
            f"- /api/stats on {chosen} / (conv) on gunicorn sync = "
            f"{rps(chosen, '(b)') / rps(sync, '(conv)'):.2f} (target >= 1.5)"
        )
    if rps(sync, "(a0)") and rps(chosen, "(b)"):
        lines.append(
            f"- /api/stats on {chosen} / (a0) on gunicorn sync = "
            f"{rps(chosen, '(b)') / rps(sync, '(a0)'):.2f} (target >= 0.75)"
        )
    for server in servers:
        if rps(server, "(conv)") and rps(server, "(b)"):
            lines.append(
                f"- {server}: (b) / (conv) = {rps(server, '(b)') / rps(server, '(conv)'):.2f} "
                f"(target >= 1.3); (b) / (a0) on the same server = "
                f"{rps(server, '(b)') / rps(server, '(a0)'):.2f}; (b) p99 "
                f"{rows[(server, '(b)')]['p99']:.1f} ms (target <= 50); (b) non-2xx "
                f"{rows[(server, '(b)')]['non_2xx']}"
            )
    if rps(BEFORE, "(b)"):
        lines.append(
            f"- before -> after on gunicorn sync: (b) {rps(BEFORE, '(b)'):,.0f} -> "
            f"{rps(sync, '(b)'):,.0f} req/s; (a) {rps(BEFORE, '(a)'):,.0f} -> "
            f"{rps(sync, '(a)'):,.0f} req/s"
        )
    b0 = grouped.get((servers[0], "(b0)"), [None])[0]
    if b0:
        lines.append(
            f"- From cold, (b0) reached MariaDB with {b0.aggregates} aggregate statements in "
            f"{b0.seconds:.0f} s (target: exactly one pair = 2); its 503s are the cold waiters "
            "that found no LKG within STATS_COLD_WAIT_MS while the first computation ran"
        )
    c = grouped.get(("nginx", "(c)"), [None])[0]
    d = grouped.get(("nginx", "(d)"), [None])[0]
    if c and d:
        lines.append(
            f"- (c) / (d) = {c.rps / d.rps:.2f} (target >= 0.5); (c) {c.rps:,.0f} req/s "
            f"(target >= 8,400); p99 {c.p99_ms:.1f} ms (target <= 20 ms); 5xx {c.server_errors}"
        )
    lines += ["", "<details><summary>Every run</summary>", ""]
    lines += [
        "| run | target | conns | req/s | p50 ms | p99 ms | non-2xx | 5xx | socket errors "
        "| aggregate stmts |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in results:
        errors = ", ".join(f"{k} {v}" for k, v in r.errors.items() if v) or "0"
        lines.append(
            f"| {r.label} | `{r.target}` | {r.connections} | {r.rps:,.0f} | {r.p50_ms:.2f} "
            f"| {r.p99_ms:.2f} | {r.non_2xx} | {r.server_errors} | {errors} | {r.aggregates} |"
        )
    lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=3_000_000)
    parser.add_argument("--db-name", default="bench_stats")
    parser.add_argument("--duration", type=int, default=20, help="seconds for (b0) and (c)")
    parser.add_argument(
        "--short-duration", type=int, default=10, help="seconds per row and round, and (d)"
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated SERVERS")
    parser.add_argument("--chosen", default="", help="the production server (default: first)")
    parser.add_argument("--before-root", default="", help="checkout of the 'before' commit")
    parser.add_argument("--before-label", default="", help="what --before-root holds")
    parser.add_argument("--naive-duration", type=int, default=0, help="0 skips (e)")
    parser.add_argument("--naive-connections", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--wrk-threads", type=int, default=min(4, os.cpu_count() or 2))
    parser.add_argument("--workers", type=int, default=4, help="workers per server")
    parser.add_argument("--ip-pool", type=int, default=262_144)
    parser.add_argument("--microcache-seconds", type=int, default=5)
    args = parser.parse_args()
    args.load_at_start = os.getloadavg()[0]
    sys.path[:0] = [str(ROOT), str(BENCH_DIR)]
    bench = Bench(args)
    try:
        results, seeding, refresh, refresh_counters = bench.run()
    finally:
        bench.stop()
    text = report(results, seeding, refresh, refresh_counters, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    # Newest run first; earlier runs stay below (figures on a shared machine vary run to run).
    previous = RESULTS.read_text() if RESULTS.exists() else ""
    RESULTS.write_text(text + ("\n---\n\n" + previous if previous else ""))
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
