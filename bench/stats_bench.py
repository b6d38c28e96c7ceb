"""GET /api/stats under load (`make bench-stats`): a benchmark, not a test.

Starts its own Redis (deploy/redis/redis-coordination.conf), gunicorn (deploy/gunicorn.conf.py)
and nginx (deploy/nginx/nginx.conf, rendered into a temp prefix), all on 127.0.0.1, loads
users and orders into MariaDB database `--db-name`, then measures with wrk and a random
client IP per request in X-Forwarded-For (127.0.0.1 is the trusted local proxy):

  (a)  plain Django function view returning a constant, same middleware   gunicorn
  (b0) /api/stats from cold (entry, LKG and lock flushed first)           gunicorn
  (b)  /api/stats warm (the entry exists)                                  gunicorn
  (b2) /api/stats through DRF's full dispatch (bench-only URL)            gunicorn
  (c)  /api/stats via the deploy nginx config (microcache + limit_req)     nginx
  (d)  nginx `return 200` of the same body behind the same real_ip + limit_req zone
  (e)  naive DRF view running both aggregates per request                 gunicorn

Prints req/s, p50/p99, status counts and the aggregate statements that reached MariaDB in
each run; writes bench/results/stats.md. Full scale (the issue's): --users 1000000
--orders 3000000 (the defaults); use smaller numbers on a shared machine.
"""

from __future__ import annotations

import argparse
import json
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
        self.gunicorn_port = free_port()
        self.nginx_port = free_port()
        self.processes: list[subprocess.Popen] = []
        self.database_url = f"mysql://root@127.0.0.1:3306/{args.db_name}"
        self.env = {
            **os.environ,
            "DEBUG": "0",
            "SECRET_KEY": "bench-only-secret-key-0123456789abcdef0123456789abcdef",
            "JWT_SIGNING_KEY": "bench-only-jwt-key-0123456789abcdef0123456789abcdef",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "SECURE_HSTS_SECONDS": "0",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "REDIS_CACHE_URL": f"redis://127.0.0.1:{self.redis_port}/1",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/2",
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "TRUSTED_PROXIES": "127.0.0.1",
            # Short shared-cache lifetime so the nginx microcache expires several times a run.
            "STATS_HTTP_MAX_AGE_SECONDS": str(args.microcache_seconds),
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "statsbench.settings",
            "PYTHONPATH": f"{ROOT}:{BENCH_DIR}",
            "WEB_BIND": f"127.0.0.1:{self.gunicorn_port}",
            "GUNICORN_LOG_LEVEL": "warning",
        }
        if args.workers:
            self.env["WEB_WORKERS"] = str(args.workers)
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

    def start_gunicorn(self) -> None:
        log_file = open(self.tmp / "gunicorn.log", "w")  # noqa: SIM115 (lives as long as the process)
        process = subprocess.Popen(
            [
                str(VENV_BIN / "gunicorn"),
                "-c",
                str(ROOT / "deploy" / "gunicorn.conf.py"),
                "config.wsgi:application",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        wait_http(f"http://127.0.0.1:{self.gunicorn_port}/bench/constant")

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
                f"server 127.0.0.1:{self.gunicorn_port} max_fails=0;"
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
            f"http://127.0.0.1:{self.gunicorn_port}/api/stats", timeout=30
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
        self.start_gunicorn()
        args = self.args
        gunicorn = f"http://127.0.0.1:{self.gunicorn_port}"
        nginx = f"http://127.0.0.1:{self.nginx_port}"
        # Warm-up (not reported): every worker imports its views and opens its connections.
        for path in ("/bench/constant", "/bench/stats-drf"):
            self.wrk(label="warm-up", url=f"{gunicorn}{path}", seconds=2, connections=16)
        results = [
            self.wrk(
                label="(a) Django constant view",
                url=f"{gunicorn}/bench/constant",
                seconds=args.short_duration,
                connections=args.connections,
            )
        ]
        # From cold: no entry, no LKG, no lock; exactly one pair of aggregates expected.
        self.redis().flushdb()
        results.append(
            self.wrk(
                label="(b0) /api/stats via gunicorn, from cold",
                url=f"{gunicorn}/api/stats",
                seconds=args.duration,
                connections=args.connections,
            )
        )
        results.append(
            self.wrk(
                label="(b) /api/stats via gunicorn, warm",
                url=f"{gunicorn}/api/stats",
                seconds=args.short_duration,
                connections=args.connections,
            )
        )
        results.append(
            self.wrk(
                label="(b2) /api/stats through DRF dispatch",
                url=f"{gunicorn}/bench/stats-drf",
                seconds=args.short_duration,
                connections=args.connections,
            )
        )
        self.start_nginx()
        results.append(
            self.wrk(
                label="(c) /api/stats via nginx microcache",
                url=f"{nginx}/api/stats",
                seconds=args.duration,
                connections=args.connections,
            )
        )
        results.append(
            self.wrk(
                label="(d) nginx return 200 (real_ip + limit_req)",
                url=f"{nginx}/bench/return200",
                seconds=args.short_duration,
                connections=args.connections,
            )
        )
        if args.naive_duration > 0:
            results.append(
                self.wrk(
                    label="(e) naive DRF view, aggregates per request",
                    url=f"{gunicorn}/bench/naive",
                    seconds=args.naive_duration,
                    connections=args.naive_connections,
                    timeout_seconds=60,
                )
            )
        return results, seeding, refresh, refresh_counters


def report(
    results: list[RunResult],
    seeding: dict[str, float],
    refresh: list[float],
    refresh_counters: list[float],
    args: argparse.Namespace,
) -> str:
    by_key = {result.label.split()[0]: result for result in results}
    lines = [
        "# GET /api/stats benchmark",
        "",
        f"- Date (UTC): {time.strftime('%Y-%m-%d %H:%M', time.gmtime())}; "
        f"host: {os.cpu_count()} CPUs (shared with wrk); load average at the end "
        f"{os.getloadavg()[0]:.1f} (other work on the machine skews every figure)",
        f"- Command: `{' '.join(sys.argv)}`",
        f"- Data: {int(seeding['users']):,} users, {int(seeding['orders']):,} orders"
        + (f" (seeded in {seeding['seed_seconds']:.1f} s)" if "seed_seconds" in seeding else ""),
        "- Refresh (the two aggregate statements, 3 runs): "
        + ", ".join(f"{x * 1000:.0f} ms" for x in refresh)
        + f"; median {statistics.median(refresh) * 1000:.0f} ms",
        "- Refresh with STATS_SOURCE=counters (one read of 96 counter rows, 3 runs): "
        + ", ".join(f"{x * 1000:.1f} ms" for x in refresh_counters)
        + f"; the reconcile (recount + correction) took {seeding['reconcile_seconds']:.1f} s",
        f"- wrk: {args.wrk_threads} threads, random X-Forwarded-For from a pool of "
        f"{args.ip_pool:,} IPs, trusted local proxy 127.0.0.1; gunicorn sync workers: "
        f"{args.workers or 'default (2 x CPUs + 1)'}; microcache max-age "
        f"{args.microcache_seconds} s",
        "",
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
    lines += ["", "## Targets", ""]
    a, b0, b, c, d = (by_key.get(k) for k in ("(a)", "(b0)", "(b)", "(c)", "(d)"))
    if a and b:
        lines.append(
            f"- (b) / (a) = {b.rps / a.rps:.2f} (target >= 0.75); (b) p99 {b.p99_ms:.1f} ms "
            f"(target <= 50 ms at 64 connections)"
        )
    if b0:
        lines.append(
            f"- From cold, (b0) reached MariaDB with {b0.aggregates} aggregate statements in "
            f"{b0.seconds:.0f} s (target: exactly one pair = 2); its 503s are the cold waiters "
            "that found no LKG within STATS_COLD_WAIT_MS while the first computation ran"
        )
    if c and d:
        lines.append(
            f"- (c) / (d) = {c.rps / d.rps:.2f} (target >= 0.5); (c) {c.rps:,.0f} req/s "
            f"(target >= 8,400); p99 {c.p99_ms:.1f} ms (target <= 20 ms); 5xx {c.server_errors}"
        )
    b2 = by_key.get("(b2)")
    if b and b2:
        lines.append(
            f"- View choice: dispatch bypass {b.rps:,.0f} req/s vs full DRF dispatch "
            f"{b2.rps:,.0f} req/s ({(b.rps / b2.rps - 1) * 100:+.0f}%)"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=3_000_000)
    parser.add_argument("--db-name", default="bench_stats")
    parser.add_argument("--duration", type=int, default=30, help="seconds for (b) and (c)")
    parser.add_argument("--short-duration", type=int, default=15, help="seconds for (a) (b2) (d)")
    parser.add_argument("--naive-duration", type=int, default=10, help="0 skips (e)")
    parser.add_argument("--naive-connections", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--wrk-threads", type=int, default=min(4, os.cpu_count() or 2))
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (0: default)")
    parser.add_argument("--ip-pool", type=int, default=262_144)
    parser.add_argument("--microcache-seconds", type=int, default=5)
    args = parser.parse_args()
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
