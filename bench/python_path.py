"""Where a request's CPU time goes (`make bench-python-path`): a profile, not a test.

Over 400 lines on purpose: one self-contained profiling script (start, seed, measure,
report) that runs on its own outside the test suite.

Starts its own Redis and the web server through `deploy/web` with ONE worker (so every
request wrk sends is served by the process py-spy samples), seeds a small data set into
MariaDB database `--db-name`, then for each endpoint runs wrk and, during the same seconds,
`py-spy record --nonblocking` on the worker. Every sample is charged to the innermost frame
that belongs to a known layer (redis-py, database, JWT, DRF, session/CSRF/messages/auth
middleware, metrics, Django's handler and URL resolver, the server itself, project code);
stdlib frames are charged to whoever called them. CPU µs per request = the worker's
non-idle samples / rate / requests served; each layer gets its share of that.

  constant     /bench/constant (a plain function view, the project's middleware)
  stats        /api/stats
  posts        /api/v2/posts?limit=20 (anonymous, warm cache)
  tasks        /api/v1/tasks (JWT, warm cache)
  me           /api/v1/users/me (JWT)
  live         /api/health/live

With `--compare "granian,gunicorn sync,gunicorn gthread"` it profiles nothing: every endpoint
runs on every server (`--workers` each) in interleaved rounds, for req/s, p50 and p99 and the
task-list and /users/me ratios to /api/health/live.

Writes bench/results/python-path.md (newest run first). On a shared machine the absolute
µs move with the load; the shares per layer are the stable part.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
VENV_BIN = ROOT / ".venv" / "bin"
RESULTS = BENCH_DIR / "results" / "python-path.md"
sys.path[:0] = [str(ROOT), str(BENCH_DIR)]

from stats_bench import bench_env, deploy_web_start, free_port, log, tool  # noqa: E402

ENDPOINTS = {
    "constant": ("/bench/constant", False),
    "stats": ("/api/stats", False),
    "posts": ("/api/v2/posts?limit=20", False),
    "tasks": ("/api/v1/tasks", True),
    "me": ("/api/v1/users/me", True),
    "live": ("/api/health/live", False),
}

# (layer, pattern on the frame's file as py-spy prints it: relative to sys.path); first match
# wins, innermost frame first.
LAYERS: list[tuple[str, re.Pattern[str]]] = [
    ("Redis client (redis-py, django-redis) + wait", re.compile(r"^(redis|django_redis)/")),
    ("database (ORM, driver, health-check ping) + wait", re.compile(r"^(django/db/|MySQLdb/)")),
    ("JWT (simplejwt, PyJWT)", re.compile(r"^(rest_framework_simplejwt|jwt)/")),
    ("DRF (request, negotiation, serializers, render)", re.compile(r"^rest_framework/")),
    (
        "sessions, CSRF, messages, auth middleware",
        re.compile(r"^django/(contrib/(sessions|messages|auth/middleware)|middleware/csrf)"),
    ),
    (
        "request metrics",
        re.compile(r"^(prometheus_client/|monitoring/(middleware|metrics|aggregates))"),
    ),
    (
        "security, whitenoise, common, clickjacking middleware",
        re.compile(r"^(django/middleware/(security|common|clickjacking)|whitenoise/)"),
    ),
    ("project middleware (request id, body limit)", re.compile(r"^core/middleware")),
    (
        "Django handler, signals, URL resolve, HttpResponse",
        re.compile(r"^django/(core/handlers|urls|http|utils/deprecation|dispatch|views)"),
    ),
    ("app server (HTTP parse, socket I/O, connection close)", re.compile(r"^(gunicorn|granian)/")),
    (
        "project code (views, services, limiter, auth)",
        re.compile(r"^(core|stats|accounts|tasks|posts|monitoring|config|statsbench)/"),
    ),
    ("other Django", re.compile(r"^django/")),
]
OTHER = "other (stdlib, no known caller)"

AUTH_LUA = r"""
local pool = 262144
request = function()
    local n = math.random(0, pool - 1)
    local ip = "100." .. (64 + math.floor(n / 65536) % 64) .. "." .. (math.floor(n / 256) % 256) .. "." .. (n % 256)
    local headers = {["X-Forwarded-For"] = ip}
    if "__TOKEN__" ~= "" then headers["Authorization"] = "Bearer __TOKEN__" end
    return wrk.format("GET", nil, headers)
end
"""


def _frame_file(frame: str) -> str:
    match = re.search(r"\(([^:()]+)(?::\d+)?\)\s*$", frame)
    return match.group(1) if match else ""


def _frame_name(frame: str) -> str:
    file = _frame_file(frame)
    function = frame.split(" (", 1)[0]
    return f"{function} ({file})"


def classify(stack: list[str]) -> str:
    for frame in reversed(stack):
        file = _frame_file(frame)
        for layer, pattern in LAYERS:
            if pattern.search(file):
                return layer
    return OTHER


def analyse(raw_path: Path) -> dict[str, object]:
    layers: collections.Counter[str] = collections.Counter()
    self_time: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw_path.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        stack = [f for f in stack_text.split(";") if f and not f.startswith("process ")]
        stack = [f for f in stack if not f.startswith("thread ")]
        if not stack:
            continue
        total += count
        layers[classify(stack)] += count
        self_time[_frame_name(stack[-1])] += count
    return {"total": total, "layers": layers, "self": self_time}


class Profiler:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="python-path-"))
        self.redis_port = free_port()
        self.web_port = free_port()
        self.processes: list[subprocess.Popen] = []
        self.env = {
            **bench_env(
                database_url=f"mysql://root@127.0.0.1:3306/{args.db_name}",
                redis_port=self.redis_port,
            ),
            # Nothing refused: the profile is of the admitted path.
            "RATE_LIMIT_TASKS": "100000000/m",
            "RATE_LIMIT_DEFAULT": "100000000/m",
            "WEB_BIND": f"127.0.0.1:{self.web_port}",
            "WEB_WORKERS": "1",
        }
        if args.server:
            self.env["WEB_SERVER"] = args.server
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)

    def manage(self, *argv: str) -> str:
        done = subprocess.run(
            [str(VENV_BIN / "python"), "manage.py", *argv],
            cwd=ROOT,
            env={**self.env, "DJANGO_SETTINGS_MODULE": "config.settings"},
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout

    def prepare(self) -> str:
        import MySQLdb

        conn = MySQLdb.connect(host="127.0.0.1", port=3306, user="root")
        with closing(conn.cursor()) as cursor:
            cursor.execute(
                f"CREATE DATABASE IF NOT EXISTS `{self.args.db_name}` "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
        conn.close()
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage(
            "seed_demo",
            "--if-empty",
            "--users",
            "50",
            "--orders",
            "200",
            "--posts",
            "40",
            "--tasks",
            "400",
        )
        code = (
            "from django.db.models import Count\n"
            "from accounts.models import User\n"
            "from accounts.tokens import refresh_token_for\n"
            "user = User.objects.filter(is_active=True, role='member')"
            ".annotate(n=Count('tasks')).order_by('-n').first()\n"
            "print(refresh_token_for(user).access_token)\n"
        )
        return self.manage("shell", "-c", code).strip().splitlines()[-1]

    def start_redis_only(self) -> None:
        self.start(with_web=False)

    def start(self, *, with_web: bool = True) -> None:
        redis_dir = self.tmp / "redis"
        redis_dir.mkdir()
        self.processes.append(
            subprocess.Popen(
                [
                    tool("redis-server"),
                    str(ROOT / "deploy" / "redis" / "redis-coordination.conf"),
                    "--port",
                    str(self.redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(redis_dir),
                    "--daemonize",
                    "no",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        if not with_web:
            return
        self.web = deploy_web_start(
            env=self.env,
            log_path=self.tmp / "web.log",
            ready_url=f"http://127.0.0.1:{self.web_port}/bench/constant",
            processes=self.processes,
        )

    def start_server(self, server: str, *, workers: int) -> str:
        """Another web server through deploy/web (compare mode); returns its base URL."""
        from stats_bench import SERVERS

        port = free_port()
        env = {**self.env, **SERVERS[server], "WEB_BIND": f"127.0.0.1:{port}"}
        env["WEB_WORKERS"] = str(workers)
        base = f"http://127.0.0.1:{port}"
        deploy_web_start(
            env=env,
            log_path=self.tmp / f"{server.replace(' ', '-')}.log",
            ready_url=f"{base}/bench/constant",
            processes=self.processes,
        )
        return base

    def load(self, url: str, token: str, *, seconds: int, connections: int) -> dict[str, float]:
        """wrk only (no profiler): req/s, p50, p99 and non-2xx of one row."""
        script = self.tmp / f"load-{abs(hash((url, token)))}.lua"
        script.write_text(AUTH_LUA.replace("__TOKEN__", token))
        done = subprocess.run(
            [
                tool("wrk"),
                "-t2",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                str(script),
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        out = done.stdout

        def latency_ms(label: str) -> float:
            match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
            if not match:
                return float("nan")
            value, unit = float(match.group(1)), match.group(2)
            return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        return {
            "rps": float(rps.group(1)) if rps else 0.0,
            "p50": latency_ms("50"),
            "p99": latency_ms("99"),
            "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        }

    def worker_pid(self) -> int:
        """The one process that serves requests: the server's child (gunicorn worker or
        granian worker), or the server itself when it has none."""
        children = subprocess.run(
            ["pgrep", "-P", str(self.web.pid)], capture_output=True, text=True
        ).stdout.split()
        return int(children[-1]) if children else self.web.pid

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()

    def profile(self, name: str, path: str, token: str) -> dict[str, object]:
        script = self.tmp / f"{name}.lua"
        script.write_text(AUTH_LUA.replace("__TOKEN__", token))
        url = f"http://127.0.0.1:{self.web_port}{path}"
        wrk = [tool("wrk"), "-t1", f"-c{self.args.connections}", "-s", str(script)]
        subprocess.run([*wrk, "-d2s", url], check=True, capture_output=True)  # warm-up
        raw = self.tmp / f"{name}.txt"
        seconds = self.args.seconds
        load = subprocess.Popen([*wrk, f"-d{seconds + 2}s", url], stdout=subprocess.PIPE, text=True)
        time.sleep(1)
        started = time.monotonic()
        subprocess.run(
            [
                str(VENV_BIN / "py-spy"),
                "record",
                "--pid",
                str(self.worker_pid()),
                "--rate",
                str(self.args.rate),
                "--duration",
                str(seconds),
                "--nonblocking",
                "--format",
                "raw",
                "--output",
                str(raw),
            ],
            check=True,
            capture_output=True,
        )
        sampled = time.monotonic() - started
        out, _ = load.communicate()
        match = re.search(r"Requests/sec:\s+([\d.]+)", out)
        rps = float(match.group(1)) if match else 0.0
        (self.tmp / f"{name}.json").write_text(
            json.dumps({"name": name, "path": path, "rps": rps, "sampled": sampled, "out": out})
        )
        return measured(raw, rate=self.args.rate)


def measured(raw: Path, *, rate: int) -> dict[str, object]:
    """The analysis of one row from its py-spy file and the wrk figures saved beside it."""
    meta = json.loads(raw.with_suffix(".json").read_text())
    name, path, rps, sampled, out = (meta[k] for k in ("name", "path", "rps", "sampled", "out"))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result = analyse(raw)
    requests = rps * sampled
    cpu_seconds = int(result["total"]) / rate  # type: ignore[arg-type]
    result.update(
        name=name,
        path=path,
        rps=rps,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        us_per_request=cpu_seconds / requests * 1e6 if requests else 0.0,
    )
    log(f"{name}: {rps:,.0f} req/s, {result['us_per_request']:.0f} µs CPU/request")
    return result


def report(results: list[dict[str, object]], args: argparse.Namespace) -> str:
    lines = [
        "# Python request path: where the CPU time goes",
        "",
        f"- Date (UTC): {time.strftime('%Y-%m-%d %H:%M', time.gmtime())}; host: "
        f"{os.cpu_count()} CPUs shared with wrk and other work; load average "
        f"{os.getloadavg()[0]:.1f}",
        f"- Command: `{' '.join(sys.argv)}`; server: "
        f"{args.server or 'deploy/web default'} with 1 worker, wrk 1 thread "
        f"{args.connections} connections, py-spy {args.rate} Hz for {args.seconds} s per row",
        "- CPU µs/request = the worker's non-idle samples / rate / requests served; the layer "
        "columns split it by the innermost frame of a known layer (stdlib frames go to their "
        "caller). req/s is under profiling (py-spy costs a few %).",
        "",
    ]
    names = [LAYER for LAYER, _ in LAYERS] + [OTHER]
    header = "| layer | " + " | ".join(str(r["name"]) for r in results) + " |"
    lines += [header, "|---|" + "---:|" * len(results)]
    lines.append(
        "| **req/s (1 worker)** | " + " | ".join(f"{r['rps']:,.0f}" for r in results) + " |"
    )
    lines.append(
        "| **CPU µs / request** | "
        + " | ".join(f"**{r['us_per_request']:.0f}**" for r in results)
        + " |"
    )
    for layer in names:
        cells = []
        for r in results:
            total = int(r["total"]) or 1  # type: ignore[arg-type]
            share = r["layers"].get(layer, 0) / total  # type: ignore[union-attr]
            cells.append(f"{share * float(r['us_per_request']):.0f}" if share else "")  # type: ignore[arg-type]
        if any(cells):
            lines.append(f"| {layer} | " + " | ".join(cells) + " |")
    lines += ["", "Paths: " + ", ".join(f"{r['name']} `{r['path']}`" for r in results), ""]
    for r in results:
        total = int(r["total"]) or 1  # type: ignore[arg-type]
        lines += [f"### Top frames (self time): {r['name']} `{r['path']}`", ""]
        for frame, count in r["self"].most_common(args.top):  # type: ignore[union-attr]
            lines.append(
                f"- {count / total * 100:4.1f}% "
                f"{count / total * float(r['us_per_request']):5.0f} µs  `{frame}`"  # type: ignore[arg-type]
            )
        lines.append("")
    return "\n".join(lines)


def compare(profiler: Profiler, args: argparse.Namespace, token: str) -> str:
    """Every endpoint on every server of `--compare`, in interleaved rounds (no profiler)."""
    servers = [name.strip() for name in args.compare.split(",") if name.strip()]
    bases = {server: profiler.start_server(server, workers=args.workers) for server in servers}
    wanted = [n for n in args.only.split(",") if n] or list(ENDPOINTS)
    rows: dict[tuple[str, str], list[dict[str, float]]] = {}
    for server in servers:  # warm-up: caches filled, every worker's imports done
        for name in wanted:
            path, needs_token = ENDPOINTS[name]
            profiler.load(
                f"{bases[server]}{path}",
                token if needs_token else "",
                seconds=2,
                connections=args.connections,
            )
    for round_number in range(args.rounds):
        for name in wanted:
            path, needs_token = ENDPOINTS[name]
            for server in servers:
                row = profiler.load(
                    f"{bases[server]}{path}",
                    token if needs_token else "",
                    seconds=args.seconds,
                    connections=args.connections,
                )
                log(f"round {round_number + 1} {server} {name}: {row}")
                rows.setdefault((server, name), []).append(row)
    lines = [
        "# Python request path: servers compared on every endpoint",
        "",
        f"- Date (UTC): {time.strftime('%Y-%m-%d %H:%M', time.gmtime())}; host: "
        f"{os.cpu_count()} CPUs shared with wrk and other work; load average at the end "
        f"{os.getloadavg()[0]:.1f}",
        f"- Command: `{' '.join(sys.argv)}`; {args.workers} workers per server through "
        f"deploy/web, wrk 2 threads {args.connections} connections, {args.rounds} interleaved "
        f"rounds of {args.seconds} s (each endpoint on every server back to back)",
        "- Nothing refused (limits raised); random client IPs; warm caches; JWT for tasks/me",
        "",
        "| endpoint | " + " | ".join(f"{s} req/s | p50 ms | p99 ms" for s in servers) + " |",
        "|---|" + "---:|---:|---:|" * len(servers),
    ]
    for name in wanted:
        cells = []
        for server in servers:
            runs = rows[(server, name)]
            rps = sum(r["rps"] for r in runs) / len(runs)
            p50 = sorted(r["p50"] for r in runs)[len(runs) // 2]
            p99 = sorted(r["p99"] for r in runs)[len(runs) // 2]
            bad = sum(r["non_2xx"] for r in runs)
            cells.append(
                f"{rps:,.0f}{' (' + str(bad) + ' non-2xx)' if bad else ''} | {p50:.1f} | {p99:.1f}"
            )
        lines.append(f"| {name} `{ENDPOINTS[name][0]}` | " + " | ".join(cells) + " |")
    live = {
        s: sum(r["rps"] for r in rows[(s, "live")]) / args.rounds
        for s in servers
        if (s, "live") in rows
    }
    lines.append("")
    for server in servers:
        for name in ("tasks", "me"):
            if (server, name) in rows and live.get(server):
                rps = sum(r["rps"] for r in rows[(server, name)]) / args.rounds
                lines.append(
                    f"- {server}: {name} / live = {rps / live[server]:.2f} (target >= 0.5)"
                )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-name", default="bench_python_path")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--server", default="", help="WEB_SERVER for deploy/web (default: its own)")
    parser.add_argument("--only", default="", help="comma-separated endpoint names")
    parser.add_argument("--label", default="", help="a heading note (e.g. before/after)")
    parser.add_argument("--reanalyse", default="", help="a kept run directory: report it again")
    parser.add_argument("--compare", default="", help="servers (stats_bench.SERVERS), no profiler")
    parser.add_argument("--workers", type=int, default=4, help="workers per server (--compare)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (--compare)")
    args = parser.parse_args()
    profiler = Profiler(args)
    results = []
    if args.reanalyse:
        kept = Path(args.reanalyse)
        wanted = [n for n in args.only.split(",") if n] or list(ENDPOINTS)
        results = [measured(kept / f"{n}.txt", rate=args.rate) for n in wanted]
    try:
        if args.reanalyse:
            return write(report(results, args), args)
        token = profiler.prepare()
        if args.compare:
            profiler.start_redis_only()
            return write(compare(profiler, args, token), args)
        profiler.start()
        wanted = [n for n in args.only.split(",") if n] or list(ENDPOINTS)
        for name in wanted:
            path, needs_token = ENDPOINTS[name]
            results.append(profiler.profile(name, path, token if needs_token else ""))
    finally:
        profiler.stop()
    write(report(results, args), args)
    log(f"py-spy files kept in {profiler.tmp}")


def write(text: str, args: argparse.Namespace) -> None:
    if args.label:
        text = text.replace("\n", f"\n\n**{args.label}**\n", 1)
    previous = RESULTS.read_text() if RESULTS.exists() else ""
    RESULTS.write_text(text + ("\n---\n\n" + previous if previous else ""))
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
