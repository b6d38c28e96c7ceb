"""deploy/prometheus and deploy/grafana: they parse, pass promtool, and reference only
metric names that /api/metrics (or a recording rule) really exports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboard.json"
PROMQL_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
}
PROMETHEUS_BUILTINS = {"up"}


def _promtool() -> str:
    """promtool from Debian's `prometheus` package; installed (no recommends) when missing."""
    found = shutil.which("promtool")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=300)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "prometheus"],
        check=True,
        env=env,
        timeout=600,
    )
    # The package's postinst may start the server; tests only need the promtool binary.
    if Path("/etc/init.d/prometheus").exists():
        subprocess.run(["service", "prometheus", "stop"], check=False, env=env, timeout=60)
    found = shutil.which("promtool")
    assert found, "promtool still missing after installing Debian's prometheus package"
    return found


def _metric_names(expr: str) -> set[str]:
    """Metric identifiers in a PromQL expression (not functions, labels, or keywords)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        name, is_call = match.group(1), match.group(2)
        if not is_call and name not in PROMQL_KEYWORDS:
            names.add(name)
    return names


def _rules() -> list[dict]:
    rules = []
    for path in sorted((PROMETHEUS_DIR / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules.extend(group["rules"])
    return rules


@pytest.fixture(scope="module")
def exported_names(django_db_blocker) -> set[str]:
    from django.test import Client

    with django_db_blocker.unblock():
        text = Client().get("/api/metrics").content.decode()
    names = {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    return names | recorded | PROMETHEUS_BUILTINS


def test_promtool_accepts_config_and_rules_and_every_alert_fires_and_resolves_in_tests():
    promtool = _promtool()

    config = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS_DIR / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    tests = subprocess.run(
        [promtool, "test", "rules", str(PROMETHEUS_DIR / "tests" / "alerts_test.yml")],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert config.returncode == 0, config.stdout + config.stderr
    assert tests.returncode == 0, tests.stdout + tests.stderr
    fixtures = yaml.safe_load((PROMETHEUS_DIR / "tests" / "alerts_test.yml").read_text())
    tested = {
        case["alertname"] for test in fixtures["tests"] for case in test.get("alert_rule_test", [])
    }
    alerts = {rule["alert"] for rule in _rules() if "alert" in rule}
    assert alerts <= tested
    for name in alerts:  # each alert is seen both firing and not firing
        cases = [
            c
            for t in fixtures["tests"]
            for c in t.get("alert_rule_test", [])
            if c["alertname"] == name
        ]
        assert any(c["exp_alerts"] for c in cases) and any(not c["exp_alerts"] for c in cases), name


def test_rules_reference_only_exported_metrics(exported_names):
    for rule in _rules():
        unknown = _metric_names(rule["expr"]) - exported_names
        assert not unknown, (rule.get("alert") or rule.get("record"), unknown)


def test_grafana_dashboard_parses_and_references_only_exported_metrics(exported_names):
    dashboard = json.loads(DASHBOARD.read_text())

    assert dashboard["uid"] and dashboard["title"] and dashboard["panels"]
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus"
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    referenced = set().union(*(_metric_names(expr) for expr in expressions))
    assert referenced - exported_names == set()
    for required in (
        "http_requests_total",
        "http_request_duration_milliseconds_bucket",
        "queue_jobs_pending",
        "outbox_oldest_unsent_seconds",
        "provider_budget_remaining",
        "beat_last_success_timestamp",
        "platform:cache_hit_ratio:rate5m",
    ):
        assert required in referenced, required
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_metric_name_extraction_sees_names_not_labels_or_functions():
    expr = 'histogram_quantile(0.95, sum by (le) (rate(foo_bucket{route="/x"}[5m]))) / bar_total'
    assert _metric_names(expr) == {"foo_bucket", "bar_total"}
