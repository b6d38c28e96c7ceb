"""Several worker processes, one scrape: counters summed, ratio from the sums, dead pids dropped.

prometheus_client picks its multiprocess value class at import time, so this runs in a
fresh interpreter with PROMETHEUS_MULTIPROC_DIR set, forking real worker processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.monitoring.test_metrics_endpoint import _sample

SCRIPT = r"""
import json, os
from monitoring.multiproc import multiprocess_dir_reset
multiprocess_dir_reset()
import django
django.setup()
from monitoring import aggregates, metrics
aggregates.is_flush_thread_enabled = False

children = []
release_read, release_write = os.pipe()
ready_read, ready_write = os.pipe()
for hits, misses in ((3, 0), (1, 7)):
    pid = os.fork()
    if pid == 0:
        for _ in range(hits):
            metrics.cache_request(cache="mp", is_hit=True)
        for _ in range(misses):
            metrics.cache_request(cache="mp", is_hit=False)
        metrics.request_observe(method="GET", route="/api/mp", status=200, duration_ms=12)
        metrics.memory_usage_update()
        os.write(ready_write, b"x")
        os.read(release_read, 1)  # stay alive until the parent scraped
        os._exit(0)
    children.append(pid)
for _ in children:
    os.read(ready_read, 1)
before = metrics.exposition(snapshot={}, beat={})[0].decode()
os.write(release_write, b"xx")
for pid in children:
    os.waitpid(pid, 0)
# No mark_dead call (granian has no child_exit): the scrape notices the exited workers.
after = metrics.exposition(snapshot={}, beat={})[0].decode()
print(json.dumps({"before": before, "after": after, "files": sorted(os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"]))}))
"""


def test_counters_sum_across_processes_and_dead_workers_leave_live_gauges(tmp_path: Path):
    stale = tmp_path / "counter_999999.db"
    stale.write_bytes(b"left over from the previous run")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )

    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    before, after = result["before"], result["after"]
    assert "counter_999999.db" not in result["files"]  # wiped at start
    assert _sample(before, "http_requests_total", method="GET", route="/api/mp", status="200") == 2
    assert _sample(before, "cache_requests_total", cache="mp", result="hit") == 4
    # 4 hits of 11 lookups overall; averaging the two processes' ratios would give 0.5625
    assert abs(_sample(before, "cache_hit_ratio", cache="mp") - 4 / 11) < 1e-9
    # counters survive a worker's death; its live gauges (memory) do not
    assert _sample(after, "http_requests_total", method="GET", route="/api/mp", status="200") == 2
    assert _sample(after, "memory_usage_bytes") < _sample(before, "memory_usage_bytes")


def test_reset_spares_only_the_callers_own_files(tmp_path: Path):
    from monitoring.multiproc import multiprocess_dir_reset

    for name in ("counter_123.db", "gauge_livesum_123.db", "counter_456.db", "histogram_1234.db"):
        (tmp_path / name).write_bytes(b"x")

    multiprocess_dir_reset(str(tmp_path), keep_pid=123)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_123.db", "gauge_livesum_123.db"]
