"""Load against the running `make stack` (`make bench-load`): a benchmark, not a test.

Over 400 lines on purpose: one self-contained benchmark script run on its own; its
scenarios share the start/measure/report code kept here.

wrk with the Lua scenarios in bench/load/, through nginx (STACK_PORT):
  return200  nginx `return 200`, no upstream: the upper bound of this box and wrk
  stats      GET /api/stats, a random client IP per request
  posts      GET /api/v2/posts with fields/include, following cursors up to 10 pages
  tasks      authenticated /api/v1/tasks, 90% reads / 10% writes, as LOAD_USERS users
  mixed      50% stats, 25% posts, 25% tasks
  spike      mixed at 10x its sustainable rate for 30 s, then 3 windows of 5 s at the
             sustainable rate (is latency back to baseline within 10 s?)

Each scenario first runs flat out (capacity), then paced at LOAD_SUSTAINABLE_FRACTION of
it (the sustainable rate) where p95 is judged. For every run: req/s, p50/p95/p99, 5xx, 429,
socket errors, and DB statements per request (MariaDB `Questions` on the primary and the
replica, minus the background rate measured while idle). The RSS of every web worker (deploy/web's server) is
sampled all along. Results: bench/results/load.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
LOAD_DIR = ROOT / "bench" / "load"
RESULTS = ROOT / "bench" / "results" / "load.md"
P95_TARGET_MS = 100.0
RSS_TOLERANCE = 0.10
# After a spike, "back to baseline" = the window's p95 within this factor of the baseline p95.
RECOVERY_FACTOR = 1.5


def load_stack_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stack_script", ROOT / "deploy/stack/stack.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


stack_module = load_stack_module()


def log(message: str) -> None:
    sys.stderr.write(f"[bench-load] {message}\n")
    sys.stderr.flush()


@dataclass
class Run:
    label: str
    script: str
    connections: int
    seconds: float
    rate: float  # target req/s; 0 = flat out
    requests: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    retry_after_missing: int = 0
    statements_per_request: float | None = None
    command: str = ""

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("5"))

    @property
    def too_many(self) -> int:
        return self.statuses.get("429", 0)

    @property
    def socket_errors(self) -> int:
        return sum(self.errors.get(kind, 0) for kind in ("connect", "read", "write", "timeout"))


class Statements:
    """MariaDB `Questions` (statements from clients) on the primary and the replica."""

    def __init__(self, stack: object) -> None:
        self.stack = stack

    def count(self) -> int:
        total = 0
        for role in ("primary", "replica"):
            out = self.stack.sql(role, "SHOW GLOBAL STATUS LIKE 'Questions'")  # type: ignore[attr-defined]
            total += int(out.split()[1])
        return total


class RssSampler(threading.Thread):
    """RSS of every web worker (children of the web masters), every `interval` s."""

    def __init__(self, stack: object, *, interval: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.interval = interval
        self.samples: dict[int, list[tuple[float, int]]] = {}
        self.stopping = threading.Event()

    def workers(self) -> list[int]:
        masters = {self.stack.pid(web) for web in stack_module.WEB_SERVERS}  # type: ignore[attr-defined]
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) in masters:
                pids.append(int(entry.name))
        return pids

    def run(self) -> None:
        while not self.stopping.is_set():
            now = time.monotonic()
            for pid in self.workers():
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                match = re.search(r"VmRSS:\s+(\d+) kB", status)
                if match:
                    self.samples.setdefault(pid, []).append((now, int(match[1])))
            self.stopping.wait(self.interval)

    def summary(self, *, skip_seconds: float) -> list[dict[str, float]]:
        """Per worker: first/last/min/max RSS after the warm-up, and the largest drift."""
        rows = []
        for pid, samples in sorted(self.samples.items()):
            start = samples[0][0] + skip_seconds
            kept = [kb for at, kb in samples if at >= start]
            if len(kept) < 2:
                continue
            first = kept[0]
            drift = max(abs(kb - first) for kb in kept) / first
            rows.append(
                {
                    "pid": pid,
                    "samples": len(kept),
                    "span_s": samples[-1][0] - start,
                    "first_mb": first / 1024,
                    "last_mb": kept[-1] / 1024,
                    "min_mb": min(kept) / 1024,
                    "max_mb": max(kept) / 1024,
                    "drift": drift,
                }
            )
        return rows


class LoadBench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.layout = stack_module.Layout.from_env()
        self.stack = stack_module.Stack(self.layout)
        self.url = self.layout.url
        self.work = self.layout.stack_dir / "bench"
        self.work.mkdir(parents=True, exist_ok=True)
        self.tokens = self.work / "tokens.txt"
        self.statements = Statements(self.stack)
        self.background_per_second = 0.0
        self.runs: list[Run] = []
        self.notes: list[str] = []

    # ------------------------------------------------------------------ setup
    def check_stack(self) -> None:
        status, document = self.stack.health()
        if status != 200:
            raise SystemExit(
                f"no healthy stack at {self.url} ({status} {document}); run make stack"
            )

    def mint_tokens(self) -> None:
        """Access tokens for LOAD_USERS members, minted directly (the token endpoint is limited
        to 10/min per IP by design)."""
        code = (
            "from accounts.models import User\n"
            "from accounts.tokens import TOKEN_VERSION_CLAIM\n"
            "from rest_framework_simplejwt.tokens import AccessToken\n"
            "out = []\n"
            f"for user in User.objects.filter(role='member', is_active=True).order_by('id')[:{self.args.users}]:\n"
            "    token = AccessToken.for_user(user)\n"
            "    token[TOKEN_VERSION_CLAIM] = user.token_version\n"
            "    out.append(f'{user.id} {token}')\n"
            f"open({str(self.tokens)!r}, 'w').write('\\n'.join(out) + '\\n')\n"
            "print(len(out))\n"
        )
        count = self.stack.manage("shell", "-c", code, capture=True).strip().splitlines()[-1]
        log(f"minted {count} access tokens")

    def measure_background(self, seconds: float = 5.0) -> None:
        before = self.statements.count()
        time.sleep(seconds)
        after = self.statements.count()
        # two SHOW STATUS statements per server per count are ours
        self.background_per_second = max(0.0, (after - before - 2) / seconds)
        log(f"background statements: {self.background_per_second:.1f}/s (beat, workers, probes)")

    # ------------------------------------------------------------------ wrk
    def wrk(self, run: Run) -> Run:
        threads = min(2, run.connections)
        command = [
            "wrk",
            f"-t{threads}",
            f"-c{run.connections}",
            f"-d{int(run.seconds)}s",
            "--timeout",
            "10s",
            "-s",
            f"bench/load/{run.script}.lua",
            self.url,
            "--",
            f"{run.rate:.0f}",
            str(run.connections),
            str(self.tokens),
            str(len(self.runs)),
        ]
        run.command = " ".join(command)
        before = self.statements.count()
        started = time.monotonic()
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        elapsed = time.monotonic() - started
        after = self.statements.count()
        line = next(
            (x for x in result.stdout.splitlines() if x.startswith("WRKJSON ")),
            None,
        )
        if line is None:
            raise SystemExit(f"wrk gave no summary:\n{result.stdout}\n{result.stderr}")
        data = json.loads(line[len("WRKJSON ") :])
        run.requests = data["requests"]
        run.rps = data["requests"] / (data["duration_us"] / 1e6)
        run.p50_ms, run.p95_ms = data["p50_us"] / 1000, data["p95_us"] / 1000
        run.p99_ms, run.max_ms = data["p99_us"] / 1000, data["max_us"] / 1000
        run.statuses = {str(k): v for k, v in data["statuses"].items()}
        run.errors = data["errors"]
        run.retry_after_missing = data["retry_after_missing"]
        if run.requests:
            ours = 4  # the two SHOW STATUS pairs around the run
            statements = after - before - ours - self.background_per_second * elapsed
            run.statements_per_request = max(0.0, statements) / run.requests
        self.runs.append(run)
        log(
            f"{run.label}: {run.rps:.0f} req/s p50 {run.p50_ms:.1f} p95 {run.p95_ms:.1f} "
            f"p99 {run.p99_ms:.1f} ms statuses {run.statuses} errors {run.socket_errors} "
            f"stmts/req {run.statements_per_request or 0:.2f}"
        )
        return run

    # ------------------------------------------------------------------ scenarios
    def scenario(self, name: str) -> Run:
        args = self.args
        capacity = self.wrk(
            Run(f"{name} capacity", name, args.connections, args.capacity_seconds, 0)
        )
        rate = max(1.0, capacity.rps * args.sustainable_fraction)
        seconds = args.mixed_seconds if name == "mixed" else args.sustainable_seconds
        return self.wrk(Run(f"{name} sustainable", name, args.connections, seconds, rate))

    def spike(self, baseline: Run) -> dict[str, object]:
        args = self.args
        spike = self.wrk(
            Run(
                "spike 10x mixed",
                "mixed",
                args.connections * 10,
                args.spike_seconds,
                baseline.rate * 10,
            )
        )
        windows = [
            self.wrk(
                Run(
                    f"after spike {i * 5}-{i * 5 + 5} s",
                    "mixed",
                    args.connections,
                    5,
                    baseline.rate,
                )
            )
            for i in range(3)
        ]
        recovered_at = None
        for index, window in enumerate(windows):
            if window.p95_ms <= max(baseline.p95_ms * RECOVERY_FACTOR, baseline.p95_ms + 5):
                recovered_at = (index + 1) * 5
                break
        return {"spike": spike, "windows": windows, "recovered_within_s": recovered_at}

    # ------------------------------------------------------------------ main
    def execute(self) -> int:
        self.check_stack()
        self.mint_tokens()
        started_at = datetime.now(UTC)
        load_before = os.getloadavg()
        sampler = RssSampler(self.stack)
        sampler.start()
        self.measure_background()
        upper = self.wrk(
            Run(
                "nginx return 200",
                "return200",
                self.args.connections * 2,
                self.args.capacity_seconds,
                0,
            )
        )
        sustainable = {name: self.scenario(name) for name in ("stats", "posts", "tasks", "mixed")}
        spike = self.spike(sustainable["mixed"])
        sampler.stopping.set()
        sampler.join()
        rss = sampler.summary(skip_seconds=self.args.rss_warmup_seconds)
        load_after = os.getloadavg()
        verdicts = self.verdicts(sustainable, spike, rss)
        self.write(
            started_at=started_at,
            load=(load_before, load_after),
            upper=upper,
            sustainable=sustainable,
            spike=spike,
            rss=rss,
            verdicts=verdicts,
        )
        for line in verdicts:
            print(line)
        return 0

    def verdicts(self, sustainable: dict[str, Run], spike: dict, rss: list[dict]) -> list[str]:
        lines = []
        for name, run in sustainable.items():
            ok = run.p95_ms < P95_TARGET_MS and run.server_errors == 0
            lines.append(
                f"TARGET p95<100ms {name}: {'PASS' if ok else 'FAIL'} p95={run.p95_ms:.1f} ms at "
                f"{run.rps:.0f} req/s, 5xx={run.server_errors}"
            )
        s = spike["spike"]
        lines.append(
            f"TARGET spike 0 5xx: {'PASS' if s.server_errors == 0 else 'FAIL'} 5xx={s.server_errors} "
            f"429={s.too_many} socket_errors={s.socket_errors} at {s.rps:.0f} req/s"
        )
        recovered = spike["recovered_within_s"]
        lines.append(
            f"TARGET back to baseline within 10 s: "
            f"{'PASS' if recovered is not None and recovered <= 10 else 'FAIL'} "
            f"windows p95={[round(w.p95_ms, 1) for w in spike['windows']]} ms, "
            f"baseline {sustainable['mixed'].p95_ms:.1f} ms"
        )
        worst = max((row["drift"] for row in rss), default=0.0)
        span = min((row["span_s"] for row in rss), default=0.0)
        lines.append(
            f"TARGET RSS flat ±10%: {'PASS' if rss and worst <= RSS_TOLERANCE else 'FAIL'} "
            f"worst drift {worst * 100:.1f}% over {span:.0f} s, {len(rss)} workers"
        )
        return lines

    def write(self, **parts: object) -> None:
        started_at: datetime = parts["started_at"]  # type: ignore[assignment]
        load_before, load_after = parts["load"]  # type: ignore[misc]
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        lines = [
            "# Load through nginx on the one-box stack (`make bench-load`)",
            "",
            f"Measured {started_at:%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores ({cpu}), "
            f"{memory_gb:.0f} GiB, against `make stack` (broker: {self.layout.broker}, "
            f"2 web servers (deploy/web: {os.environ.get('WEB_SERVER', 'granian')}) x "
            f"{self.layout.web_workers} workers, {self.layout.seed_users:,} seeded users). "
            f"Load average {load_before[0]:.1f} before, {load_after[0]:.1f} after: the machine is "
            "shared with other work and wrk runs on the same two cores, so every figure is a "
            "floor, not what the code does on a quiet box.",
            "",
            "```",
            "make stack && make bench-load",
            f"python bench/load.py {' '.join(sys.argv[1:])}".rstrip(),
            "```",
            "",
            "Each scenario runs flat out first (capacity), then paced at "
            f"{self.args.sustainable_fraction:.0%} of that (sustainable), where p95 is judged. "
            "Statements per request are MariaDB `Questions` on both servers during the run, "
            f"minus the idle background ({self.background_per_second:.1f}/s: beat, workers).",
            "",
            "| run | conns | target req/s | req/s | p50 ms | p95 ms | p99 ms | max ms | 5xx | 429 "
            "| socket errors | DB statements/request | statuses |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for run in self.runs:
            spr = "-" if run.statements_per_request is None else f"{run.statements_per_request:.2f}"
            lines.append(
                f"| {run.label} | {run.connections} | {run.rate:.0f} | {run.rps:.0f} | "
                f"{run.p50_ms:.1f} | {run.p95_ms:.1f} | {run.p99_ms:.1f} | {run.max_ms:.0f} | "
                f"{run.server_errors} | {run.too_many} | {run.socket_errors} | {spr} | "
                f"{json.dumps(run.statuses, sort_keys=True)} |"
            )
        lines += ["", "## Targets", ""]
        lines += [f"- {line}" for line in parts["verdicts"]]  # type: ignore[union-attr]
        lines += [
            "",
            "## RSS of each web worker over the run",
            "",
            f"Sampled every 5 s from /proc; the first {self.args.rss_warmup_seconds:.0f} s "
            "(imports, first requests) are left out.",
            "",
            "| worker pid | samples | span s | first MiB | last MiB | min MiB | max MiB | drift |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in parts["rss"]:  # type: ignore[union-attr]
            lines.append(
                f"| {row['pid']} | {row['samples']} | {row['span_s']:.0f} | {row['first_mb']:.1f} | "
                f"{row['last_mb']:.1f} | {row['min_mb']:.1f} | {row['max_mb']:.1f} | "
                f"{row['drift'] * 100:.1f}% |"
            )
        lines += ["", "## wrk commands", "", "```"]
        lines += [run.command for run in self.runs]
        lines += ["```", ""]
        RESULTS.write_text("\n".join(lines))
        log(f"wrote {RESULTS.relative_to(ROOT)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=int(os.environ.get("LOAD_USERS", "2000")))
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--capacity-seconds", type=float, default=10)
    parser.add_argument("--sustainable-seconds", type=float, default=30)
    parser.add_argument("--mixed-seconds", type=float, default=120)
    parser.add_argument("--spike-seconds", type=float, default=30)
    parser.add_argument(
        "--sustainable-fraction",
        type=float,
        default=float(os.environ.get("LOAD_SUSTAINABLE_FRACTION", "0.5")),
    )
    parser.add_argument("--rss-warmup-seconds", type=float, default=30)
    return LoadBench(parser.parse_args()).execute()


if __name__ == "__main__":
    sys.exit(main())
