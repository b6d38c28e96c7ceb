"""deploy/stack/stack.py's pure parts: what it renders from the deploy configs.

The stack itself (processes, replication, health) is exercised by `make stack`, not here:
the one test that looks at a running stack is marked `stack` and skipped when none answers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _load_stack() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stack_script", ROOT / "deploy/stack/stack.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


stack = _load_stack()


@pytest.fixture
def layout(tmp_path):
    return stack.Layout.from_env({"STACK_DIR": str(tmp_path / "s"), "STACK_PORT": "18080"})


def test_layout_reads_the_stack_variables(tmp_path):
    layout = stack.Layout.from_env(
        {
            "STACK_DIR": "var/other",
            "STACK_PORT": "9090",
            "STACK_BASE_PORT": "7500",
            "STACK_BROKER": "rabbitmq",
            "STACK_SEED_USERS": "10",
        }
    )
    assert layout.stack_dir == ROOT / "var/other"  # relative to the repository
    assert (layout.front_port, layout.port("nginx"), layout.port("web-2")) == (9090, 9090, 7512)
    assert (layout.broker, layout.seed_users) == ("rabbitmq", 10)
    with pytest.raises(SystemExit, match="STACK_BROKER"):
        stack.Layout.from_env({"STACK_BROKER": "kafka"})


def test_without_stack_broker_the_layout_takes_the_running_stacks_broker(tmp_path):
    stack_dir = tmp_path / "s"
    stack_dir.mkdir()
    assert stack.Layout.from_env({"STACK_DIR": str(stack_dir)}).broker == "redis"  # no stack
    (stack_dir / "env").write_text(
        stack.env_file_text({"CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:7441//"})
    )

    assert stack.Layout.from_env({"STACK_DIR": str(stack_dir)}).broker == "rabbitmq"
    explicit = {"STACK_DIR": str(stack_dir), "STACK_BROKER": "redis"}
    assert stack.Layout.from_env(explicit).broker == "redis"  # the variable still decides


def test_nginx_conf_gets_every_web_server_with_the_deploy_parameters(layout):
    source = (ROOT / "deploy/nginx/nginx.conf").read_text()
    rendered = stack.render_nginx_conf(
        source, listen_port=18080, upstreams=[7411, 7412], down=[7412]
    )
    assert "listen 127.0.0.1:18080 backlog=4096;" in rendered
    assert "server 127.0.0.1:7411 max_fails=3 fail_timeout=10s;" in rendered
    assert "server 127.0.0.1:7412 max_fails=3 fail_timeout=10s down;" in rendered
    assert "127.0.0.1:8000" not in rendered
    # the policy stays the deploy file's own
    for line in ("least_conn;", "keepalive 128;", "proxy_next_upstream error timeout", "limit_req"):
        assert line in rendered


def test_rendered_nginx_conf_passes_nginx_t(layout):
    base = Path(tempfile.mkdtemp(prefix="stack-nginx-test-"))
    try:
        prefix = base / "nginx"
        for sub in ("logs", "run", "temp", "cache", "conf"):
            (prefix / sub).mkdir(parents=True)
            os.chmod(prefix / sub, 0o777)  # noqa: S103 (nginx workers run unprivileged)
        os.chmod(base, 0o755)  # noqa: S103
        source = (ROOT / "deploy/nginx/nginx.conf").read_text()
        conf = prefix / "conf" / "nginx.conf"
        conf.write_text(stack.render_nginx_conf(source, listen_port=18080, upstreams=[7411, 7412]))
        (prefix / "conf" / "real_ip.conf").write_text("set_real_ip_from 127.0.0.1;\n")
        check = subprocess.run(
            [NGINX, "-t", "-p", f"{prefix}/", "-c", str(conf)], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_nginx_conf_without_the_upstream_line_is_refused():
    with pytest.raises(ValueError, match=r"127\.0\.0\.1:8000"):
        stack.render_nginx_conf("listen 80 backlog=4096;\n", listen_port=1, upstreams=[2])


def test_mariadb_cnf_includes_the_deploy_file_then_overrides_paths(layout):
    rendered = stack.render_mariadb_cnf(layout=layout, role="replica")
    lines = rendered.splitlines()
    include = lines.index(f"!include {ROOT / 'deploy/mariadb/replica.cnf'}")
    override = next(i for i, line in enumerate(lines) if line.startswith("port "))
    assert include < override  # later options win: the include must come first
    assert f"port                      = {layout.port('mariadb-replica')}" in lines
    assert "server_id                 = 2" in lines
    assert any(line.startswith("relay_log") and str(layout.stack_dir) in line for line in lines)
    assert "/var/lib/mysql" not in rendered


def test_setup_sql_gets_local_hosts_and_passwords():
    source = (ROOT / "deploy/mariadb/setup-replication.sql").read_text()
    passwords = {"repl": "r1", "app": "a1", "ro": "o1"}
    rendered = stack.render_setup_sql(source, passwords=passwords)
    assert "'10.%'" not in rendered and "CHANGE_ME" not in rendered
    assert "'repl'@'127.0.0.1' IDENTIFIED BY 'r1'" in rendered
    assert "'platform_ro'@'127.0.0.1' IDENTIFIED BY 'o1'" in rendered


def test_one_env_for_every_process_and_the_broker_choice(layout):
    passwords = {name: name + "-pw" for name in ("repl", "app", "ro", "provider", "rabbitmq")}
    passwords |= {"secret_key": "s" * 50, "jwt": "j" * 50}
    env = stack.render_env(layout=layout, passwords=passwords)
    assert env["DATABASE_URL"] == "mysql://platform:app-pw@127.0.0.1:7401/platform"
    assert env["DATABASE_REPLICA_URLS"] == "mysql://platform_ro:ro-pw@127.0.0.1:7402/platform"
    assert env["CELERY_BROKER_URL"] == "redis://127.0.0.1:7440/1"  # via the broker proxy
    assert env["REDIS_URL"] == "redis://127.0.0.1:7404/0"
    assert env["DEBUG"] == "0"
    rabbit = stack.Layout.from_env({"STACK_BROKER": "rabbitmq", "STACK_PORT": "18080"})
    broker = stack.render_env(layout=rabbit, passwords=passwords)["CELERY_BROKER_URL"]
    assert broker == "amqp://platform-stack-18080:rabbitmq-pw@127.0.0.1:7440/platform-stack-18080"
    path = layout.stack_dir / "env"
    path.parent.mkdir(parents=True)
    path.write_text(stack.env_file_text(env))
    assert stack.env_file_read(path) == env


def _stack_health() -> dict | None:
    url = os.environ.get("STACK_URL", "http://127.0.0.1:8080") + "/api/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


@pytest.mark.stack  # deselected by default (pyproject addopts); `-m stack` with make stack up
def test_running_stack_reports_every_process_up():
    assert _stack_health() is not None, "no stack answers: start it with make stack"
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy/stack/stack.py"), "status"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"replicas": "ok"' in result.stdout
