"""Fault drills against the running `make stack` (`make drills`): not tests.

Each drill runs with traffic through nginx (stats, v2 posts, tasks reads and writes as many
users), breaks one thing on purpose, puts it back, and prints one line
`DRILL <name>: PASS|FAIL <figures>`, appended to bench/results/drills.md. A FAIL is a finding,
reported with its figure; nothing is retried until it passes.

    python bench/drills.py                      # every drill, in order of value
    python bench/drills.py rolling-restart broker-down

Network faults go through deploy/dev/faultproxy.py: the stack's broker proxy, and for
primary-slow a proxy in front of the primary that the web servers are rolled onto and back.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import importlib.util
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "drills.md"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


stack_module = _load("stack_script", ROOT / "deploy/stack/stack.py")
faultproxy = _load("faultproxy", ROOT / "deploy/dev/faultproxy.py")


def log(message: str) -> None:
    sys.stderr.write(f"[drills] {time.strftime('%H:%M:%S')} {message}\n")
    sys.stderr.flush()


# The provider-outage drill divides these by its time scale (seconds of the sync loop and alerts).
COMPRESSED_SETTINGS = (
    "SYNC_WINDOW_SECONDS",
    "SYNC_TICK_SECONDS",
    "SYNC_BACKOFF_BASE_SECONDS",
    "SYNC_BACKOFF_CAP_SECONDS",
    "SYNC_MAX_DELAY_SECONDS",
    "ALERT_EVALUATE_SECONDS",
    "ALERT_OUTBOX_OLDEST_SECONDS",
    "ALERT_COOLDOWN_SECONDS",
)


# ------------------------------------------------------------------------------ traffic


@dataclass
class Sample:
    at: float
    op: str
    status: int  # 0 = socket error / timeout
    ms: float
    problem: bool = False  # application/problem+json
    retry_after: bool = False
    error: str = ""  # exception name when status is 0


class Traffic:
    """Paced requests through nginx from a few threads, every answer recorded."""

    OPS = (("stats", 0.4), ("posts", 0.2), ("tasks_read", 0.3), ("tasks_write", 0.1))

    def __init__(self, *, port: int, tokens: list[tuple[int, str]], rate: float = 20.0) -> None:
        self.port = port
        self.tokens = tokens
        self.rate = rate
        self.samples: list[Sample] = []
        self.created: list[tuple[int, int]] = []  # (task id, owner id) acknowledged with 201
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(6)]

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=15)

    def _request(self, op: str) -> tuple[str, str, dict[str, str], bytes | None]:
        ip = f"100.{64 + random.randrange(64)}.{random.randrange(256)}.{random.randrange(256)}"
        headers = {"X-Forwarded-For": ip}
        if op == "stats":
            return "GET", "/api/stats", headers, None
        if op == "posts":
            query = random.choice(["include=author", "fields=id,title", "include=author,category"])
            return "GET", f"/api/v2/posts?limit=20&{query}", headers, None
        _user_id, token = random.choice(self.tokens)
        headers["Authorization"] = f"Bearer {token}"
        if op == "tasks_read":
            return "GET", "/api/v1/tasks", headers, None
        headers["Content-Type"] = "application/json"
        body = json.dumps(
            {"title": f"drill {random.randrange(10**9)}", "due_date": "2027-02-01T09:00:00Z"}
        )
        return "POST", "/api/v1/tasks", headers, body.encode()

    def _loop(self) -> None:
        connection: http.client.HTTPConnection | None = None
        gap = len(self.threads) / self.rate
        names = [name for name, _ in self.OPS]
        weights = [weight for _, weight in self.OPS]
        while not self.stopping.is_set():
            op = random.choices(names, weights)[0]
            method, path, headers, body = self._request(op)
            started = time.monotonic()
            status, problem, retry_after, payload = 0, False, False, b""
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=35)
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                status = response.status
                problem = "problem+json" in (response.getheader("Content-Type") or "")
                retry_after = response.getheader("Retry-After") is not None
                error = ""
            except (OSError, http.client.HTTPException) as exc:
                error = type(exc).__name__
            finally:
                # A connection per request: an idle keep-alive connection that nginx closes on
                # reload would otherwise fail the next request in a race every client must retry.
                if connection is not None:
                    connection.close()
                connection = None
            elapsed = (time.monotonic() - started) * 1000
            with self.lock:
                self.samples.append(
                    Sample(started, op, status, elapsed, problem, retry_after, error)
                )
                if status == 201:
                    data = json.loads(payload).get("data", {})
                    self.created.append((data.get("id"), data.get("owner_id")))
            self.stopping.wait(max(0.0, gap * random.uniform(0.5, 1.5) - elapsed / 1000))

    def window(
        self, start: float = 0.0, end: float = float("inf"), ops: tuple[str, ...] = ()
    ) -> list[Sample]:
        with self.lock:
            return [s for s in self.samples if start <= s.at < end and (not ops or s.op in ops)]


def summarize(samples: list[Sample]) -> dict[str, object]:
    statuses: dict[int, int] = {}
    for sample in samples:
        statuses[sample.status] = statuses.get(sample.status, 0) + 1
    latencies = sorted(s.ms for s in samples) or [0.0]

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]

    errors: dict[str, int] = {}
    for sample in samples:
        if sample.error:
            errors[sample.error] = errors.get(sample.error, 0) + 1
    return {
        "errors": errors,
        "n": len(samples),
        "statuses": statuses,
        "5xx": sum(n for code, n in statuses.items() if code >= 500),
        "500": statuses.get(500, 0),
        "socket_errors": statuses.get(0, 0),
        "p50": round(percentile(50), 1),
        "p99": round(percentile(99), 1),
        "max": round(latencies[-1], 1),
    }


def short(summary: dict[str, object]) -> str:
    codes = ",".join(f"{k}:{v}" for k, v in sorted(summary["statuses"].items()))  # type: ignore[union-attr]
    errors = f" errors={summary['errors']}" if summary["errors"] else ""
    return f"n={summary['n']} [{codes}] p99={summary['p99']}ms{errors}"


class WebhookSink:
    """A local Slack webhook: records every alert notification the stack sends to it."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    sink.bodies.append(json.loads(raw))
                except ValueError:
                    sink.bodies.append({})
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/slack"

    def sync_notifications(self) -> set[tuple[str, str]]:
        """(alert key, "firing" | "resolved") of each sync alert message received."""
        found = set()
        for body in self.bodies:
            for attachment in body.get("attachments") or []:
                fields = {f.get("title"): f.get("value") for f in attachment.get("fields") or []}
                key = str(fields.get("Alert") or "")
                if key.startswith("sync."):
                    is_resolved = str(attachment.get("title", "")).startswith("[RESOLVED]")
                    found.add((key, "resolved" if is_resolved else "firing"))
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------------------------ the drills


@dataclass
class Outcome:
    passed: bool
    figures: str
    details: list[str] = field(default_factory=list)


class Drills:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.layout = stack_module.Layout.from_env()
        self.stack = stack_module.Stack(self.layout)
        self.tokens: list[tuple[int, str]] = []
        self.rate = args.rate

    # ---------------------------------------------------------------- helpers
    def traffic(self) -> Traffic:
        return Traffic(port=self.layout.front_port, tokens=self.tokens, rate=self.rate)

    def mint_tokens(self, count: int = 500) -> None:
        code = (
            "from accounts.models import User\n"
            "from accounts.tokens import TOKEN_VERSION_CLAIM\n"
            "from rest_framework_simplejwt.tokens import AccessToken\n"
            f"for user in User.objects.filter(role='member', is_active=True).order_by('id')[:{count}]:\n"
            "    token = AccessToken.for_user(user)\n"
            "    token[TOKEN_VERSION_CLAIM] = user.token_version\n"
            "    print(user.id, token)\n"
        )
        out = self.stack.manage("shell", "-c", code, capture=True)
        self.tokens = [
            (int(user), token) for user, token in re.findall(r"^(\d+) (\S+)$", out, re.M)
        ]

    def http(
        self,
        method: str,
        url: str,
        *,
        token: str = "",
        body: dict | None = None,
        timeout: float = 10,
    ) -> tuple[int, dict, float, Message | dict[str, str]]:
        headers = {"X-Forwarded-For": f"198.51.100.{random.randrange(1, 250)}"}
        data = None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                # The headers as a Message: names are case-insensitive (granian sends them
                # lower-case), which a dict of them is not.
                raw, status, got = response.read(), response.status, response.headers
        except urllib.error.HTTPError as error:
            raw, status, got = error.read(), error.code, error.headers
        except OSError:
            return 0, {}, (time.monotonic() - started) * 1000, {}
        elapsed = (time.monotonic() - started) * 1000
        try:
            document = json.loads(raw) if raw else {}
        except ValueError:
            document = {}
        return status, document, elapsed, got

    def front(self, path: str) -> str:
        return f"{self.layout.url}{path}"

    def direct(self, web: str, path: str) -> str:
        return f"http://127.0.0.1:{self.layout.port(web)}{path}"

    def health_services(self) -> tuple[int, dict]:
        return self.stack.health(timeout=5)

    def metric(self, web: str, name: str, labels: dict[str, str] | None = None) -> float:
        """Sum of a counter's samples on one web server's /api/metrics matching `labels`."""
        try:
            with urllib.request.urlopen(self.direct(web, "/api/metrics"), timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return float("nan")
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            if labels and not all(f'{k}="{v}"' in line for k, v in labels.items()):
                continue
            total += float(line.rsplit(" ", 1)[1])
        return total

    def sql(self, role: str, statement: str) -> str:
        return self.stack.sql(role, statement, database="platform")

    def tasks_exist(self, ids: list[int]) -> int:
        if not ids:
            return 0
        out = self.sql(
            "primary", f"SELECT COUNT(*) FROM tasks_task WHERE id IN ({','.join(map(str, ids))})"
        )
        return int(out.strip())

    def heal(self) -> None:
        """Start whatever a drill left stopped, and wait for health."""
        for proc in self.stack.procs():
            if self.stack.pid(proc.name) is None:
                log(f"heal: starting {proc.name}")
                self.stack.start(proc)
                self.stack.wait_ready(proc, timeout=120)
        try:
            control = ("127.0.0.1", self.layout.port("broker-proxy-control"))
            faultproxy.control(control, "pass")
        except OSError:
            pass
        self.stack.sql("replica", "START SLAVE")
        self.stack.wait_healthy(timeout=120)

    def worker_log_count(self, name: str, pattern: str) -> int:
        text = self.layout.log_file(name).read_text(errors="replace")
        return len(re.findall(pattern, text))

    def enqueue(self, task: str, count: int = 1) -> list[str]:
        """Publish jobs by name from a fresh process (as a web request would); their ids."""
        code = (
            "import uuid\n"
            "from config.celery import app\n"
            f"for _ in range({count}):\n"
            "    job_id = str(uuid.uuid4())\n"
            f"    app.send_task({task!r}, task_id=job_id)\n"
            "    print(job_id)\n"
        )
        out = self.stack.manage("shell", "-c", code, capture=True)
        return re.findall(r"^([0-9a-f]{8}-[0-9a-f-]{27})$", out, re.M)

    # ---------------------------------------------------------------- rolling-restart
    def drill_rolling_restart(self) -> Outcome:
        drained: dict[str, object] = {}
        with self.traffic() as traffic:
            time.sleep(3)
            for web in stack_module.WEB_SERVERS:
                # the drain file first: health 503 while the server still answers requests
                self.layout.drain_file(web).write_text(f"{time.time() + 3600:.3f}\n")
                health, _, _, _ = self.http("GET", self.direct(web, "/api/health"))
                served, _, _, _ = self.http("GET", self.direct(web, "/api/stats"))
                drained[web] = (health, served)
                timings = self.stack.restart_web(web)
                drained[f"{web}_back_s"] = round(timings["back_s"], 1)
            time.sleep(3)
        summary = summarize(traffic.window())
        failed = summary["5xx"] + summary["socket_errors"]  # type: ignore[operator]
        health_ok = all(drained[w] == (503, 200) for w in stack_module.WEB_SERVERS)
        figures = (
            f"failed={failed} {short(summary)} drained(health,served)="
            f"{[drained[w] for w in stack_module.WEB_SERVERS]} back_s="
            f"{[drained[f'{w}_back_s'] for w in stack_module.WEB_SERVERS]}"
        )
        return Outcome(failed == 0 and health_ok, figures)

    # ---------------------------------------------------------------- cache-redis-flush
    def drill_cache_redis_flush(self) -> Outcome:
        """FLUSHALL on the cache Redis under traffic, then 16 clients ask for the same page at
        once: how many of them recompute it? Counted exactly from the MariaDB general log (the
        page's own `LIMIT 8` statement on posts_post; the traffic asks for other pages)."""
        path = "/api/v2/posts?limit=7&include=author,category"
        marker = "%posts_post%LIMIT 8%"
        with self.traffic() as traffic:
            time.sleep(2)
            for web in stack_module.WEB_SERVERS:  # warm: the page is cached before the flush
                self.http("GET", self.direct(web, path))
            for role in ("primary", "replica"):
                self.stack.sql(
                    role,
                    # sql_log_bin=0: the primary's TRUNCATE must not replicate into the replica's log
                    "SET SESSION sql_log_bin = 0; SET GLOBAL log_output = 'TABLE';"
                    " TRUNCATE TABLE mysql.general_log;"
                    " SET GLOBAL general_log = ON;",
                )
            started = time.monotonic()
            subprocess.run(
                ["redis-cli", "-p", str(self.layout.port("redis-cache")), "FLUSHALL"],
                check=True,
                capture_output=True,
            )
            results: list[int] = []
            barrier = threading.Barrier(16)

            def hit(index: int) -> None:
                barrier.wait()
                web = stack_module.WEB_SERVERS[index % 2]
                results.append(self.http("GET", self.direct(web, path))[0])

            threads = [threading.Thread(target=hit, args=(i,)) for i in range(16)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            recomputes = 0
            for role in ("replica", "primary"):
                out = self.stack.sql(
                    role,
                    "SET SESSION sql_log_bin = 0; SET GLOBAL general_log = OFF;"
                    " SELECT COUNT(*) FROM mysql.general_log WHERE command_type = 'Query'"
                    f" AND argument LIKE '{marker}';"
                    " TRUNCATE TABLE mysql.general_log;",
                )
                recomputes += int(out.split()[0])
            time.sleep(5)
        summary = summarize(traffic.window(start=started))
        ok_answers = results.count(200)
        passed = recomputes <= 1 and summary["5xx"] == 0 and ok_answers == 16
        figures = (
            f"recomputes_of_one_page_for_16_concurrent_requests={recomputes} (general log) "
            f"answers_200={ok_answers}/16 traffic {short(summary)}"
        )
        return Outcome(passed, figures)

    # ---------------------------------------------------------------- coordination-redis-down
    def drill_coordination_redis_down(self) -> Outcome:
        _user_id, token = self.tokens[0]
        acknowledged: list[int] = []
        health_seen: set[str] = set()
        fail_open_before = sum(
            self.metric(web, "limiter_fail_open_total") for web in stack_module.WEB_SERVERS
        )
        worker_pids = {f"worker-{q}": self.stack.pid(f"worker-{q}") for q in stack_module.QUEUES}
        with self.traffic() as traffic:
            time.sleep(3)
            self.stack.stop("redis-coordination")
            down_at = time.monotonic()
            while time.monotonic() - down_at < self.args.outage_seconds:
                status, document = self.health_services()
                health_seen.add(f"{status}:{document.get('status')}")
                code, body, _, _ = self.http(
                    "POST", self.front("/api/v1/tasks"), token=token,
                    body={"title": "during coordination outage", "due_date": "2027-03-01T09:00:00Z"},
                )  # fmt: skip
                if code == 201:
                    acknowledged.append(body["data"]["id"])
                time.sleep(2)
            up_at = time.monotonic()
            self.stack.start(self.stack.proc("redis-coordination"))
            self.stack.wait_ready(self.stack.proc("redis-coordination"))
            recovered = None
            while time.monotonic() - up_at < 60:
                status, document = self.health_services()
                if status == 200 and self.stack.all_ok(document):
                    recovered = time.monotonic() - up_at
                    break
                time.sleep(0.5)
            time.sleep(3)
        during = summarize(traffic.window(down_at, up_at, ("stats",)))
        everything = summarize(traffic.window(down_at, up_at))
        fail_open = (
            sum(self.metric(web, "limiter_fail_open_total") for web in stack_module.WEB_SERVERS)
            - fail_open_before
        )
        ids = acknowledged + [task for task, _ in traffic.created]
        present = self.tasks_exist([i for i in ids if i])
        workers_alive = {name: self.stack.pid(name) == pid for name, pid in worker_pids.items()}
        degraded = any("degraded" in seen for seen in health_seen)
        passed = (
            during["5xx"] == 0
            and degraded
            and recovered is not None
            and recovered <= 15
            and present == len([i for i in ids if i])
            # the broker is this Redis: a worker that exited did not resume on its own
            and all(workers_alive.values())
        )
        figures = (
            f"stats_during {short(during)} all_during {short(everything)} health={sorted(health_seen)} "
            f"recovered_in_s={None if recovered is None else round(recovered, 1)} "
            f"writes_acknowledged={len(ids)} present={present} limiter_fail_open=+{fail_open:.0f} "
            f"workers_survived={sum(workers_alive.values())}/{len(workers_alive)}"
        )
        return Outcome(passed, figures)

    # ---------------------------------------------------------------- primary-down
    def drill_primary_down(self) -> Outcome:
        _user_id, token = self.tokens[1]
        writes: list[tuple[int, bool, bool]] = []
        with self.traffic() as traffic:
            time.sleep(3)
            self.stack.stop("mariadb-primary")
            down_at = time.monotonic()
            while time.monotonic() - down_at < self.args.outage_seconds:
                code, _, _, headers = self.http(
                    "POST", self.front("/api/v1/tasks"), token=token,
                    body={"title": "during primary outage", "due_date": "2027-03-01T09:00:00Z"},
                )  # fmt: skip
                writes.append(
                    (
                        code,
                        "problem+json" in headers.get("Content-Type", ""),
                        "Retry-After" in headers,
                    )
                )
                time.sleep(2)
            up_at = time.monotonic()
            self.stack.start(self.stack.proc("mariadb-primary"))
            self.stack.wait_ready(self.stack.proc("mariadb-primary"), timeout=120)
            resumed = None
            while time.monotonic() - up_at < 90:
                code, _, _, _ = self.http(
                    "POST", self.front("/api/v1/tasks"), token=token,
                    body={"title": "after primary outage", "due_date": "2027-03-01T09:00:00Z"},
                )  # fmt: skip
                if code == 201:
                    resumed = time.monotonic() - up_at
                    break
                time.sleep(0.5)
            time.sleep(3)
        stats = summarize(traffic.window(down_at, up_at, ("stats",)))
        all_ops = summarize(traffic.window(down_at, up_at))
        bad_writes = [w for w in writes if w[0] != 201 and not (w[0] == 503 and w[1] and w[2])]
        ids = [task for task, _ in traffic.created if task]
        present = self.tasks_exist(ids)
        passed = (
            stats["5xx"] == 0
            and all_ops["500"] == 0
            and not bad_writes
            and resumed is not None
            and present == len(ids)
        )
        write_codes = sorted({w[0] for w in writes})
        figures = (
            f"stats_during {short(stats)} all_during {short(all_ops)} writes={len(writes)} "
            f"codes={write_codes} not_503_problem={len(bad_writes)} "
            f"resumed_after_restart_s={None if resumed is None else round(resumed, 1)} "
            f"acknowledged={len(ids)} present={present}"
        )
        return Outcome(passed, figures)

    # ---------------------------------------------------------------- replica-down / replica-lag
    def drill_replica_down(self) -> Outcome:
        health_seen: set[str] = set()
        with self.traffic() as traffic:
            time.sleep(3)
            self.stack.stop("mariadb-replica")
            down_at = time.monotonic()
            while time.monotonic() - down_at < self.args.outage_seconds:
                status, document = self.health_services()
                health_seen.add(f"{status}:{(document.get('services') or {}).get('replicas')}")
                time.sleep(2)
            up_at = time.monotonic()
            self.stack.start(self.stack.proc("mariadb-replica"))
            self.stack.wait_ready(self.stack.proc("mariadb-replica"), timeout=120)
            self.stack.replica_catch_up(timeout=120)
            time.sleep(3)
        during = summarize(traffic.window(down_at, up_at))
        passed = during["5xx"] == 0 and during["socket_errors"] == 0
        return Outcome(passed, f"during {short(during)} health={sorted(health_seen)}")

    def drill_replica_lag(self) -> Outcome:
        _user_id, token = self.tokens[2]
        self.stack.sql("replica", "STOP SLAVE SQL_THREAD")
        try:
            code, body, _, _ = self.http(
                "POST", self.front("/api/v1/tasks"), token=token,
                body={"title": "read my write", "due_date": "2027-04-01T09:00:00Z"},
            )  # fmt: skip
            task_id = body.get("data", {}).get("id")
            detail, _, _, _ = self.http("GET", self.front(f"/api/v1/tasks/{task_id}"), token=token)
            _, listing, _, _ = self.http(
                "GET", self.front("/api/v1/tasks?ordering=-created_at&page_size=100"), token=token
            )
            listed = any(item.get("id") == task_id for item in listing.get("data", []))
            on_replica = self.stack.sql(
                "replica",
                f"SELECT COUNT(*) FROM tasks_task WHERE id = {int(task_id or 0)}",
                database="platform",
            ).strip()
        finally:
            self.stack.sql("replica", "START SLAVE SQL_THREAD")
        passed = code == 201 and detail == 200 and listed and on_replica == "0"
        return Outcome(
            passed,
            f"create={code} own_detail={detail} own_list_has_it={listed} replica_has_it={on_replica == '1'} (lagging)",
        )

    # ---------------------------------------------------------------- worker-term
    def drill_worker_term(self) -> Outcome:
        name = "worker-default"
        ids = self.enqueue("tasks.jobs.compute_global_task_statistics", count=6)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
            self.worker_log_count(name, re.escape(job_id) + r"\] received") for job_id in ids
        ):
            time.sleep(0.1)
        self.stack.stop(name, timeout=120)
        finished_before_exit = sum(
            self.worker_log_count(name, re.escape(job_id) + r"\] succeeded") for job_id in ids
        )
        self.stack.start(self.stack.proc(name))
        self.stack.wait_ready(self.stack.proc(name), timeout=120)
        deadline = time.monotonic() + 90
        counts: dict[str, int] = {}
        while time.monotonic() < deadline:
            counts = {
                job_id: self.worker_log_count(name, re.escape(job_id) + r"\] succeeded")
                for job_id in ids
            }
            if all(counts.values()):
                break
            time.sleep(1)
        time.sleep(5)
        counts = {
            job_id: self.worker_log_count(name, re.escape(job_id) + r"\] succeeded")
            for job_id in ids
        }
        passed = finished_before_exit >= 1 and all(n == 1 for n in counts.values())
        return Outcome(
            passed,
            f"jobs={len(ids)} finished_before_exit={finished_before_exit} "
            f"runs_per_job={sorted(counts.values())}",
        )

    # ---------------------------------------------------------------- broker-down
    def drill_broker_down(self) -> Outcome:
        control = ("127.0.0.1", self.layout.port("broker-proxy-control"))
        worker_pids = {f"worker-{q}": self.stack.pid(f"worker-{q}") for q in stack_module.QUEUES}
        with self.traffic() as traffic:
            time.sleep(3)
            faultproxy.control(control, "blackhole")
            down_at = time.monotonic()
            time.sleep(self.args.outage_seconds)
            faultproxy.control(control, "pass")
            up_at = time.monotonic()
            time.sleep(5)
        per_op = {op: summarize(traffic.window(down_at, up_at, (op,))) for op, _ in Traffic.OPS}
        time.sleep(10)  # workers reconnect
        alive = {name: self.stack.pid(name) == pid for name, pid in worker_pids.items()}
        ids = self.enqueue("stats.jobs.refresh_stats_snapshot", count=1)
        deadline = time.monotonic() + 60
        runs = 0
        while time.monotonic() < deadline:
            runs = self.worker_log_count("worker-urgent", re.escape(ids[0]) + r"\] succeeded")
            if runs:
                break
            time.sleep(1)
        time.sleep(3)
        runs = self.worker_log_count("worker-urgent", re.escape(ids[0]) + r"\] succeeded")
        worst_p99 = max(float(s["p99"]) for s in per_op.values())  # type: ignore[arg-type]
        server_errors = sum(int(s["5xx"]) for s in per_op.values())  # type: ignore[arg-type]
        passed = worst_p99 < 1000 and all(alive.values()) and runs == 1
        figures = (
            f"p99_ms={ {op: s['p99'] for op, s in per_op.items()} } 5xx={server_errors} "
            f"workers_survived={sum(alive.values())}/{len(alive)} job_after_runs={runs}"
        )
        return Outcome(passed, figures)

    # ---------------------------------------------------------------- redis-paused
    def drill_redis_paused(self) -> Outcome:
        _user_id, token = self.tokens[3]
        self.http("GET", self.front("/api/v1/tasks?page_size=100"), token=token)  # cache the page
        pid = self.stack.pid("redis-coordination")
        assert pid
        with self.traffic() as traffic:
            time.sleep(2)
            os.kill(pid, signal.SIGSTOP)
            paused_at = time.monotonic()
            code, body, _, _ = self.http(
                "POST", self.front("/api/v1/tasks"), token=token,
                body={"title": "written during the pause", "due_date": "2027-05-01T09:00:00Z"},
                timeout=30,
            )  # fmt: skip
            task_id = body.get("data", {}).get("id")
            time.sleep(max(0.0, self.args.outage_seconds - (time.monotonic() - paused_at)))
            os.kill(pid, signal.SIGCONT)
            resumed_at = time.monotonic()
            visible_after = None
            while time.monotonic() - resumed_at < 30:
                _, listing, _, _ = self.http(
                    "GET", self.front("/api/v1/tasks?page_size=100"), token=token
                )
                if any(item.get("id") == task_id for item in listing.get("data", [])):
                    visible_after = time.monotonic() - resumed_at
                    break
                time.sleep(0.5)
            time.sleep(2)
        during = summarize(traffic.window(paused_at, resumed_at))
        passed = (
            code == 201 and visible_after is not None and visible_after <= 10 and during["5xx"] == 0
        )
        return Outcome(
            passed,
            f"write_during_pause={code} visible_after_resume_s="
            f"{None if visible_after is None else round(visible_after, 1)} during {short(during)}",
        )

    # ---------------------------------------------------------------- primary-slow
    def drill_primary_slow(self) -> Outcome:
        listen = self.layout.fault_proxy_port(0)
        control = ("127.0.0.1", self.layout.fault_proxy_port(1))
        proxy = stack_module.Proc(
            name="db-proxy",
            command=[
                str(stack_module.VENV_BIN / "python"),
                str(ROOT / "deploy/dev/faultproxy.py"),
                "serve",
                "--listen",
                f"127.0.0.1:{listen}",
                "--upstream",
                f"127.0.0.1:{self.layout.port('mariadb-primary')}",
                "--control",
                f"127.0.0.1:{control[1]}",
            ],
            port=listen,
        )
        self.stack.start(proxy)
        self.stack.wait_ready(proxy)
        env = stack_module.env_file_read(self.stack.env_path)
        slow_url = re.sub(
            r"127\.0\.0\.1:\d+/", f"127.0.0.1:{listen}/", env["DATABASE_URL"], count=1
        )
        health: list[tuple[float, int, str, float]] = []
        kills_before = self._worker_timeouts()
        try:
            for web in stack_module.WEB_SERVERS:
                self.stack.restart_web(web, extra_env={"DATABASE_URL": slow_url})
            with self.traffic() as traffic:
                time.sleep(3)
                phases = []
                for mode, seconds in (("latency 2000", 30), ("stall", 45)):
                    faultproxy.control(control, mode)
                    started = time.monotonic()
                    while time.monotonic() - started < seconds:
                        status, document, ms, _ = self.http(
                            "GET", self.direct("web-1", "/api/health"), timeout=5
                        )
                        health.append(
                            (
                                time.monotonic(),
                                status,
                                str((document.get("services") or {}).get("database")),
                                ms,
                            )
                        )
                        time.sleep(3)
                    phases.append((mode, started, time.monotonic()))
                faultproxy.control(control, "pass")
                time.sleep(5)
        finally:
            faultproxy.control(control, "pass")
            for web in stack_module.WEB_SERVERS:
                self.stack.restart_web(web)
            self.stack.stop("db-proxy", timeout=5)
        kills = self._worker_timeouts() - kills_before
        figures = []
        passed = kills == 0
        for mode, start, end in phases:
            stats = summarize(traffic.window(start, end, ("stats",)))
            db = summarize(traffic.window(start, end, ("posts", "tasks_read", "tasks_write")))
            samples = traffic.window(start, end, ("posts", "tasks_read", "tasks_write"))
            bad = [s for s in samples if s.status >= 500 and not (s.status == 503 and s.problem)]
            passed = passed and stats["5xx"] == 0 and float(stats["p99"]) < 1000 and not bad
            figures.append(
                f"{mode.split()[0]}: stats {short(stats)} db_endpoints {short(db)} "
                f"5xx_not_503_problem={len(bad)}"
            )
        health_ms = max((h[3] for h in health), default=0.0)
        states = sorted({f"{h[1]}:{h[2]}" for h in health})
        passed = passed and health_ms < 1000
        figures.append(f"health max_ms={health_ms:.0f} states={states} worker_timeouts={kills}")
        return Outcome(passed, " | ".join(figures))

    def _worker_timeouts(self) -> int:
        return sum(
            # gunicorn's arbiter, or the watchdog granian runs under (core.wsgi_watchdog)
            self.worker_log_count(web, r"WORKER TIMEOUT|request timeout: ending worker")
            for web in stack_module.WEB_SERVERS
        )

    # ---------------------------------------------------------------- processes-share-env
    def drill_processes_share_env(self) -> Outcome:
        series = "http_requests_total"
        for _ in range(20):
            self.http("GET", self.direct("web-1", "/api/v2/posts?limit=5"))
        before = self.metric("web-1", series)
        self.stack.stop("worker-default")
        self.stack.start(self.stack.proc("worker-default"))
        self.stack.wait_ready(self.stack.proc("worker-default"), timeout=120)
        for _ in range(10):
            self.http("GET", self.direct("web-1", "/api/v2/posts?limit=5"))
        after = self.metric("web-1", series)
        shared = stack_module.env_file_read(self.stack.env_path).get("PROMETHEUS_MULTIPROC_DIR")
        # +10 requests, plus the two scrapes themselves
        passed = not math.isnan(before) and not math.isnan(after) and after >= before + 10
        return Outcome(
            passed,
            f"one env (PROMETHEUS_MULTIPROC_DIR={shared}) web-1 {series} before={before:.0f} "
            f"after_worker_restart_and_10_requests={after:.0f}",
        )

    # ---------------------------------------------------------------- worker-kill
    def stub(self, path: str, body: dict | None = None) -> dict:
        url = f"http://127.0.0.1:{self.layout.port('provider-stub')}{path}"
        return self.http("POST" if body is not None else "GET", url, body=body)[1]

    def kill_group(self, name: str) -> None:
        """SIGKILL the worker and its pool at once, as the OOM killer or a lost host would."""
        pid = self.stack.pid(name)
        if pid:
            os.killpg(pid, signal.SIGKILL)
        self.layout.pid_file(name).unlink(missing_ok=True)

    def drill_worker_kill(self) -> Outcome:
        outbox = self._worker_kill_outbox()
        reminders = self._worker_kill_reminders()
        return Outcome(
            outbox.passed and reminders.passed, f"{outbox.figures} | {reminders.figures}"
        )

    def _worker_kill_outbox(self) -> Outcome:
        """A full batch (SYNC_BATCH_SIZE changes) is held by the provider when the sync worker
        is SIGKILLed; after a restart every change must reach the provider exactly once."""
        self.stub("/_control", {"reset": True})
        self.stub("/_control", {"hold": "before_apply"})
        code = (
            "from django.conf import settings\n"
            "from accounts.models import User\n"
            "users = list(User.objects.filter(role='member').order_by('-id')[: settings.SYNC_BATCH_SIZE])\n"
            "for user in users:\n"
            "    user.name = f'drill {user.pk} {user.sync_version + 1}'\n"
            "    user.save()\n"
            "print('changed', len(users), min(u.pk for u in users))\n"
        )
        out = self.stack.manage("shell", "-c", code, capture=True)
        match = re.search(r"changed (\d+) (\d+)", out)
        changed, first_id = (int(match[1]), int(match[2])) if match else (0, 0)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and self.stub("/_state").get("held_now", 0) < 1:
            time.sleep(0.2)
        held = self.stub("/_state").get("held_now", 0)
        self.kill_group("worker-sync")
        killed_at = time.monotonic()
        self.stub("/_control/release", {})  # the provider applies what it received
        self.stack.start(self.stack.proc("worker-sync"))
        self.stack.wait_ready(self.stack.proc("worker-sync"), timeout=120)
        unsent = -1
        converged = None
        while time.monotonic() - killed_at < self.args.converge_seconds:
            unsent = int(
                self.sql(
                    "primary",
                    "SELECT COUNT(*) FROM syncqueue_outboxrecord "
                    f"WHERE user_id >= {first_id} AND status NOT IN (2, 5)",
                ).strip()
            )
            if unsent == 0:
                converged = time.monotonic() - killed_at
                break
            time.sleep(5)
        state = self.stub("/_state")
        calls = int(
            self.sql(
                "primary",
                "SELECT COUNT(*) FROM syncqueue_providercall "
                f"WHERE created_at >= NOW() - INTERVAL {int(time.monotonic() - killed_at) + 120} SECOND",
            ).strip()
        )
        received = sum((state.get("counts") or {}).values())
        passed = (
            held >= 1
            and converged is not None
            and state.get("applied_twice", -1) == 0
            and state.get("applies_total", 0) >= changed
            # the call log records every call the provider received, the killed one included
            and calls >= received
        )
        return Outcome(
            passed,
            f"outbox: changes={changed} held_at_kill={held} converged_after_s="
            f"{None if converged is None else round(converged)} (limit {self.args.converge_seconds:.0f}) "
            f"unsent={unsent} provider applies={state.get('applies_total')} applied_twice="
            f"{state.get('applied_twice')} replays={state.get('replays')} "
            f"calls_received={state.get('counts')} calls_logged={calls}",
        )

    def _worker_kill_reminders(self) -> Outcome:
        """An overdue-alert chunk (300 tasks) runs when the urgent worker is SIGKILLed; after
        a restart every task must have exactly one alert (the ledger row written with the send)."""
        ids = self.sql(
            "primary",
            "SELECT t.id FROM tasks_task t LEFT JOIN tasks_taskreminderledger l "
            "ON l.task_id = t.id AND l.kind = 'overdue' "
            "WHERE t.status IN ('pending', 'in_progress') AND t.due_date < NOW() - INTERVAL 1 DAY "
            "AND l.id IS NULL ORDER BY t.id LIMIT 300",
        ).split()
        task_ids = [int(i) for i in ids]
        code = (
            "import uuid\n"
            "from config.celery import app\n"
            "job_id = str(uuid.uuid4())\n"
            f"app.send_task('tasks.jobs.send_overdue_alerts_chunk', args=[{task_ids!r}], task_id=job_id)\n"
            "print(job_id)\n"
        )
        out = self.stack.manage("shell", "-c", code, capture=True)
        job_id = re.findall(r"^([0-9a-f]{8}-[0-9a-f-]{27})$", out, re.M)[0]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not self.worker_log_count(
            "worker-urgent", re.escape(job_id) + r"\] received"
        ):
            time.sleep(0.1)
        id_list = ",".join(map(str, task_ids)) or "0"

        def sent_count() -> int:
            return int(
                self.sql(
                    "primary",
                    f"SELECT COUNT(*) FROM tasks_taskreminderledger WHERE kind = 'overdue' AND task_id IN ({id_list})",
                ).strip()
            )

        # Kill at the first alert sent: in the middle of the chunk however fast the machine
        # (300 sends take under a second on a quiet one, several under load).
        deadline = time.monotonic() + 30
        sent_before = sent_count()
        while sent_before == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
            sent_before = sent_count()
        self.kill_group("worker-urgent")
        killed_at = time.monotonic()
        self.stack.start(self.stack.proc("worker-urgent"))
        self.stack.wait_ready(self.stack.proc("worker-urgent"), timeout=120)
        sent = sent_before
        converged = None
        while time.monotonic() - killed_at < self.args.converge_seconds:
            sent = sent_count()
            if sent == len(task_ids):
                converged = time.monotonic() - killed_at
                break
            time.sleep(5)
        passed = bool(task_ids) and converged is not None and 0 < sent_before < len(task_ids)
        return Outcome(
            passed,
            f"reminders: chunk={len(task_ids)} sent_at_kill={sent_before} sent_after={sent} "
            f"(ledger unique per task: never twice) complete_after_s="
            f"{None if converged is None else round(converged)} (limit {self.args.converge_seconds:.0f})",
        )

    # ---------------------------------------------------------------- provider-outage
    def drill_provider_outage(self) -> Outcome:
        """OUTAGE_MINUTES of provider outage in compressed time, then recovery.

        Time is compressed by --time-scale through the settings that carry the sync's clock
        (window, tick, backoff, partial-flush delay, alert cadence, age threshold, cooldown):
        the stub, the sync and default workers and beat are restarted with each divided by the
        scale, and put back afterwards. During the outage the stub answers 503 while users'
        tracked attributes change (saved one by one, as the API saves them). The sync alerts
        must fire (and reach the Slack channel: a local webhook sink), the backlog must drain
        within the drain budget once the provider is back, with no call over the provider's
        limits, every change applied exactly once (the stub's counts), every call the stub
        received in the call log, and the alerts must resolve.
        """
        scale = self.args.time_scale
        real = self._sync_settings()
        sink = WebhookSink()
        compressed = {name: str(max(1, round(real[name] / scale))) for name in COMPRESSED_SETTINGS}
        compressed.update(SLACK_ALERTS_ENABLED="1", SLACK_WEBHOOK_URL=sink.url)
        processes = ("provider-stub", "worker-sync", "worker-default", "beat")

        def minutes(seconds: float) -> str:
            return f"{seconds * scale / 60:.1f}min"

        try:
            self._restart(processes, extra_env=compressed)
            ready = self._sync_quiet(timeout=60 + 10 * int(compressed["SYNC_TICK_SECONDS"]))
            if ready:
                return Outcome(False, f"not run: {ready}")
            users = [
                int(value)
                for value in self.sql(
                    "primary",
                    "SELECT id FROM accounts_user WHERE role = 'member' AND is_active = 1 "
                    f"ORDER BY id LIMIT {int(self.args.outage_changes)}",
                ).split()
            ]
            outage_seconds = self.args.outage_minutes * 60 / scale
            self.stub("/_control", {"reset": True})
            started_at = self.sql("primary", "SELECT UTC_TIMESTAMP(6)").strip()
            self.stub("/_control", {"outage": True})
            outage_started = time.monotonic()
            generated: list[str] = []
            generator = threading.Thread(
                target=lambda: generated.append(
                    self._change_users(users, seconds=0.5 * outage_seconds, env=compressed)
                ),
                daemon=True,
            )
            fired: dict[str, float] = {}
            with self.traffic() as traffic:
                generator.start()
                while generator.is_alive() or time.monotonic() - outage_started < outage_seconds:
                    for key, _state, _resolved in self._sync_alerts(since=started_at):
                        fired.setdefault(key, time.monotonic() - outage_started)
                    time.sleep(1)
                generator.join()
                during = self._outbox_states(users, since=started_at)
                self.stub("/_control", {"outage": False})
                recovered = time.monotonic()
                outage_real = recovered - outage_started
                drained = None
                drain_limit = self.args.drain_minutes * 60 / scale
                while time.monotonic() - recovered < drain_limit:
                    states = self._outbox_states(users, since=started_at)
                    if not any(states.get(status, 0) for status in (0, 1, 3)):
                        drained = time.monotonic() - recovered
                        break
                    time.sleep(1)
                resolved_after = None
                alerts: list[tuple[str, str, str]] = []
                resolve_limit = 5 * int(compressed["ALERT_EVALUATE_SECONDS"]) + 30
                waited = time.monotonic()
                while drained is not None and time.monotonic() - waited < resolve_limit:
                    alerts = self._sync_alerts(since=started_at)
                    if alerts and all(incident == "resolved" for _, incident, _ in alerts):
                        resolved_after = time.monotonic() - recovered
                        break
                    time.sleep(1)
                alerts = self._sync_alerts(since=started_at)
                after = self._outbox_states(users, since=started_at)
            state: dict = self.stub("/_state")
            calls = self.sql(
                "primary",
                "SELECT COUNT(*), COALESCE(SUM(status_code = 503), 0) FROM syncqueue_providercall "
                f"WHERE created_at >= '{started_at}'",
            ).split()
        finally:
            self.stub("/_control", {"outage": False})
            self._restart(processes, extra_env=None)
            sink.close()
        held = {int(user): value["version"] for user, value in (state.get("users") or {}).items()}
        versions = self._sync_versions(users)
        lost = sum(1 for user in users if held.get(user) != versions.get(user))
        counted = sum((state.get("counts") or {}).values())
        received = counted + state.get("outage_refusals", 0) + state.get("over_limit", 0)
        batch_calls = max(
            (n for key, n in (state.get("counts") or {}).items() if key.startswith("batch:")),
            default=0,
        )
        notified = sink.sync_notifications()
        changed = re.search(r"changed (\d+) ([\d.]+)", generated[0] if generated else "")
        passed = (
            changed is not None
            and int(changed[1]) == len(users) > 0
            and "sync.failures" in fired
            and drained is not None
            and resolved_after is not None
            and state.get("over_limit", -1) == 0
            and state.get("applied_twice", -1) == 0
            and state.get("applies_total", 0) == len(users)
            and lost == 0
            and after.get(4, 0) == 0  # nothing parked
            and int(calls[0]) == received
            and ("sync.failures", "firing") in notified
            and ("sync.failures", "resolved") in notified
        )
        summary = summarize(traffic.window())
        return Outcome(
            passed,
            f"scale={scale:g}x outage={minutes(outage_real)} ({outage_real:.0f}s) "
            f"changes={changed[1] if changed else 0}/{len(users)} in {changed[2] if changed else '-'}s "
            f"backlog_at_recovery={sum(during.get(s, 0) for s in (0, 1, 3))} "
            f"alerts_fired={ {key: minutes(at) for key, at in sorted(fired.items())} } "
            f"drained_after={None if drained is None else minutes(drained)} "
            f"(budget {self.args.drain_minutes:g}min) "
            f"alerts_resolved_after={None if resolved_after is None else minutes(resolved_after)} "
            f"states={sorted((key, incident) for key, incident, _ in alerts)} "
            f"notified={sorted(notified)} batch_calls_max_window={batch_calls}/"
            f"{real['SYNC_BATCH_CALLS_PER_WINDOW']} over_limit={state.get('over_limit')} "
            f"refused_in_outage={state.get('outage_refusals')} applies={state.get('applies_total')} "
            f"applied_twice={state.get('applied_twice')} lost={lost} parked={after.get(4, 0)} "
            f"calls_logged={calls[0]} calls_received={received} traffic {short(summary)}",
        )

    def _sync_settings(self) -> dict[str, int]:
        """The stack's own values of the settings the provider-outage drill compresses."""
        names = (*COMPRESSED_SETTINGS, "SYNC_BATCH_CALLS_PER_WINDOW")
        code = (
            "import json\n"
            "from django.conf import settings\n"
            f"print(json.dumps({{name: getattr(settings, name) for name in {names!r}}}))\n"
        )
        out = self.stack.manage("shell", "-c", code, capture=True)
        values: dict[str, int] = json.loads(out.strip().splitlines()[-1])
        return values

    def _restart(self, names: tuple[str, ...], *, extra_env: dict[str, str] | None) -> None:
        for name in names:
            self.stack.stop(name)
        for name in names:
            self.stack.start(self.stack.proc(name), extra_env=extra_env)
        for name in names:
            self.stack.wait_ready(self.stack.proc(name), timeout=120)

    def _sync_quiet(self, *, timeout: float) -> str:
        """Wait until no outbox row waits and no sync alert fires; "" or what is still there."""
        deadline = time.monotonic() + timeout
        backlog, firing = -1, ["?"]
        while time.monotonic() < deadline:
            backlog = int(
                self.sql(
                    "primary",
                    "SELECT COUNT(*) FROM syncqueue_outboxrecord WHERE status IN (0, 1, 3)",
                ).strip()
            )
            firing = self.sql(
                "primary",
                "SELECT `key` FROM monitoring_alertevent "
                "WHERE `key` LIKE 'sync.%' AND state = 'firing'",
            ).split()
            if backlog == 0 and not firing:
                return ""
            time.sleep(2)
        return f"backlog={backlog} sync alerts firing={firing} before the outage"

    def _change_users(self, users: list[int], *, seconds: float, env: dict[str, str]) -> str:
        """Save each user with a new name (a tracked attribute), paced over `seconds`."""
        gap = seconds / max(1, len(users))
        code = (
            "import time\n"
            "from accounts.models import User\n"
            f"ids, gap = {users!r}, {gap!r}\n"
            "started, count = time.monotonic(), 0\n"
            "for index, user in enumerate(User.objects.filter(pk__in=ids).order_by('pk')):\n"
            "    pause = started + index * gap - time.monotonic()\n"
            "    if pause > 0:\n"
            "        time.sleep(pause)\n"
            "    user.name = f'outage {user.pk} {user.sync_version + 1}'\n"
            "    user.save()\n"
            "    count += 1\n"
            "print('changed', count, round(time.monotonic() - started, 1))\n"
        )
        result = subprocess.run(
            [str(stack_module.VENV_BIN / "python"), "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env={**self.stack.env(), **env, "LOG_LEVEL": "ERROR"},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            log(f"provider-outage: changing users failed: {result.stderr[-2000:]}")
        return result.stdout

    def _outbox_states(self, users: list[int], *, since: str) -> dict[int, int]:
        """Outbox rows of `users` captured since `since`, counted by status."""
        out = self.sql(
            "primary",
            "SELECT status, COUNT(*) FROM syncqueue_outboxrecord "
            f"WHERE user_id IN ({','.join(map(str, users)) or '0'}) AND created_at >= '{since}' "
            "GROUP BY status",
        )
        return {int(status): int(n) for status, n in re.findall(r"^(\d+)\t(\d+)$", out, re.M)}

    def _sync_alerts(self, *, since: str) -> list[tuple[str, str, str]]:
        """(key, state, resolved_at) of each sync alert incident opened since `since`."""
        out = self.sql(
            "primary",
            "SELECT `key`, state, COALESCE(resolved_at, '-') FROM monitoring_alertevent "
            f"WHERE `key` LIKE 'sync.%' AND fired_at >= '{since}' ORDER BY id",
        )
        return [tuple(line.split("\t")) for line in out.splitlines() if line]  # type: ignore[misc]

    def _sync_versions(self, users: list[int]) -> dict[int, int]:
        out = self.sql(
            "primary",
            "SELECT id, sync_version FROM accounts_user "
            f"WHERE id IN ({','.join(map(str, users)) or '0'})",
        )
        return {
            int(user): int(version) for user, version in re.findall(r"^(\d+)\t(\d+)$", out, re.M)
        }


ORDER = (
    "rolling-restart",
    "cache-redis-flush",
    "coordination-redis-down",
    "primary-down",
    "replica-down",
    "replica-lag",
    "worker-kill",
    "worker-term",
    "broker-down",
    "redis-paused",
    "primary-slow",
    "provider-outage",
    "processes-share-env",
)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("drills", nargs="*", help=f"default: all, in order: {' '.join(ORDER)}")
    parser.add_argument("--rate", type=float, default=20.0, help="background req/s")
    parser.add_argument("--outage-seconds", type=float, default=30.0)
    parser.add_argument(
        "--time-scale",
        type=float,
        default=10.0,
        help="provider-outage: compressed seconds per real second (window, tick, backoff, alerts)",
    )
    parser.add_argument(
        "--outage-minutes", type=float, default=10.0, help="provider-outage (compressed)"
    )
    parser.add_argument(
        "--outage-changes",
        type=int,
        default=2500,
        help="provider-outage: users whose tracked attributes change during the outage",
    )
    parser.add_argument(
        "--drain-minutes",
        type=float,
        default=15.0,
        help="provider-outage: the backlog must be delivered within this after recovery "
        "(compressed; the backoff of the last failed try plus a tick)",
    )
    parser.add_argument(
        "--converge-seconds",
        type=float,
        default=360.0,
        help="worker-kill: how long work may take to complete after the kill (lease 300 s + tick)",
    )
    args = parser.parse_args()
    names = args.drills or list(ORDER)
    unknown = sorted(set(names) - set(ORDER))
    if unknown:
        parser.error(f"unknown drills {unknown}; known: {' '.join(ORDER)}")
    drills = Drills(args)
    status, document = drills.stack.health()
    if status != 200:
        raise SystemExit(f"no healthy stack at {drills.layout.url}: run make stack ({document})")
    lines = []
    for name in names:
        log(f"drill {name}")
        # Fresh access tokens per drill: the whole run outlasts JWT_ACCESS_TTL_SECONDS (15 min).
        drills.mint_tokens()
        method: Callable[[], Outcome] = getattr(drills, "drill_" + name.replace("-", "_"))
        try:
            outcome = method()
        except (Exception, SystemExit) as exc:  # a drill that crashed is a FAIL with its reason
            outcome = Outcome(False, f"drill crashed: {type(exc).__name__}: {exc}")
        line = f"DRILL {name}: {'PASS' if outcome.passed else 'FAIL'} {outcome.figures}"
        print(line, flush=True)
        lines.append(line)
        try:
            drills.heal()
        except SystemExit as exc:
            log(f"heal after {name} failed: {exc}")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = not RESULTS.exists()
    with RESULTS.open("a") as results:
        if header:
            results.write(
                "# Fault drills on the one-box stack (`make drills`)\n\n"
                "Each run appends its lines. Background traffic through nginx during every drill "
                "(stats, v2 posts, tasks reads and writes as 500 users). A FAIL is a finding with "
                "its figure.\n"
            )
        results.write(
            f"\n## {stamp} (broker {drills.layout.broker}, {' '.join(sys.argv[1:]) or 'all drills'})\n\n"
        )
        results.write("\n".join(f"    {line}" for line in lines) + "\n")
    return 0 if all(": PASS " in line for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
