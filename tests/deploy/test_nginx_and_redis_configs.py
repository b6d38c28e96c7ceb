"""deploy/nginx/nginx.conf and deploy/redis/*.conf really run.

nginx runs from a temp prefix in front of the Django live server: the microcache stores
/api/stats (the second request is a HIT that never reaches Django), rate-limit fields are
hidden, and limit_req admits a burst of 60 per client IP (from X-Forwarded-For via real_ip)
then answers a 429 problem. The two Redis configs start and keep their eviction roles.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import free_port, throwaway_redis

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _get(
    url: str, headers: dict[str, str] | None = None, *, data: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def nginx_in_front(live_server) -> Iterator[str]:
    # Not pytest's tmp_path: its parents are 0700 and nginx workers run unprivileged.
    base = Path(tempfile.mkdtemp(prefix="nginx-test-"))
    prefix = base / "nginx"
    for sub in ("logs", "run", "temp", "cache", "conf"):
        (prefix / sub).mkdir(parents=True)
        os.chmod(prefix / sub, 0o777)  # noqa: S103 (nginx workers run unprivileged)
    os.chmod(base, 0o755)  # noqa: S103
    upstream_port = live_server.url.rsplit(":", 1)[1]
    port = free_port()
    source = (ROOT / "deploy/nginx/nginx.conf").read_text()
    for old, new in {
        "listen 80 backlog=4096;": f"listen 127.0.0.1:{port};",
        "server 127.0.0.1:8000 max_fails=3 fail_timeout=10s;": (
            f"server 127.0.0.1:{upstream_port} max_fails=0;"
        ),
        "worker_processes auto;": "worker_processes 1;",
    }.items():
        assert source.count(old) == 1, f"deploy/nginx/nginx.conf no longer contains {old!r}"
        source = source.replace(old, new)
    conf = prefix / "conf" / "nginx.conf"
    conf.write_text(source)
    shutil.copy(ROOT / "deploy/nginx/real_ip.conf", prefix / "conf" / "real_ip.conf")
    with (prefix / "conf" / "real_ip.conf").open("a") as extra:
        extra.write("set_real_ip_from 127.0.0.1;\n")  # the test client plays the load balancer
    check = subprocess.run(
        [NGINX, "-t", "-p", f"{prefix}/", "-c", str(conf)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen([NGINX, "-p", f"{prefix}/", "-c", str(conf), "-g", "daemon off;"])
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.django_db(transaction=True)
def test_microcache_serves_stats_and_hides_per_client_fields(nginx_in_front):
    status, headers, body = _get(f"{nginx_in_front}/api/stats", {"X-Forwarded-For": "198.51.100.1"})
    assert status == 200, body
    assert b'"users"' in body
    assert headers["X-Microcache"] in ("MISS", "EXPIRED", "UPDATING")
    status, headers, _ = _get(
        f"{nginx_in_front}/api/stats?bust=1", {"X-Forwarded-For": "198.51.100.2"}
    )
    assert status == 200
    assert headers["X-Microcache"] == "HIT"  # served by nginx; Django never saw it
    assert not {"X-RateLimit-Remaining", "RateLimit", "RateLimit-Policy"} & set(headers)
    assert headers["Cache-Control"].startswith("public")


@pytest.mark.django_db(transaction=True)
def test_limit_req_admits_a_burst_of_60_per_client_ip(nginx_in_front):
    client = {"X-Forwarded-For": "203.0.113.77"}
    statuses = [_get(f"{nginx_in_front}/api/stats", client)[0] for _ in range(61)]
    assert statuses.count(200) == 60
    status, headers, body = _get(f"{nginx_in_front}/api/stats", client)
    assert status == 429
    assert headers["Content-Type"] == "application/problem+json"
    assert headers["Retry-After"] == "1"
    assert headers["Cache-Control"] == "no-store"
    assert b'"status":429' in body
    # another client is unaffected, and a forged hop left of the real one changes nothing
    assert _get(f"{nginx_in_front}/api/stats", {"X-Forwarded-For": "203.0.113.78"})[0] == 200
    assert (
        _get(f"{nginx_in_front}/api/stats", {"X-Forwarded-For": "1.2.3.4, 203.0.113.77"})[0] == 429
    )


@pytest.mark.django_db(transaction=True)
def test_token_endpoints_are_limited_per_client_ip_by_nginx(nginx_in_front, settings):
    settings.RATE_LIMIT_ENABLED = False  # only nginx decides here (Django sees one peer)
    url = f"{nginx_in_front}/api/v1/auth/token"
    body = b'{"email": "nobody@example.com", "password": "wrong"}'

    def attempt(ip: str) -> tuple[int, dict[str, str], bytes]:
        headers = {"X-Forwarded-For": ip, "Content-Type": "application/json"}
        return _get(url, headers, data=body)

    statuses = [attempt("203.0.113.90")[0] for _ in range(10)]
    assert statuses == [401] * 10  # a burst of 10 reaches Django (wrong password)
    status, headers, payload = attempt("203.0.113.90")
    assert status == 429
    assert headers["Content-Type"] == "application/problem+json"
    assert headers["Retry-After"] == "6"
    assert b'"status":429' in payload
    assert attempt("203.0.113.91")[0] == 401  # another client is unaffected


@pytest.mark.django_db(transaction=True)
def test_admin_sign_in_posts_are_limited_per_client_ip_by_nginx(nginx_in_front, settings):
    settings.RATE_LIMIT_ENABLED = False
    url = f"{nginx_in_front}/admin/login/"
    client = {"X-Forwarded-For": "203.0.113.95"}
    form = b"username=a%40example.com&password=wrong"
    post = {**client, "Content-Type": "application/x-www-form-urlencoded"}
    # The form itself is never limited.
    assert {_get(url, client)[0] for _ in range(12)} == {200}
    # POSTs: a burst of 10 reaches Django (CSRF refuses them there: 403), then nginx says 429.
    statuses = [_get(url, post, data=form)[0] for _ in range(11)]
    assert statuses[:10] == [403] * 10
    status, headers, _ = _get(url, post, data=form)
    assert (statuses[10], status) == (429, 429)
    assert headers["Retry-After"] == "6"
    assert _get(url, {**post, "X-Forwarded-For": "203.0.113.96"}, data=form)[0] == 403


@pytest.mark.parametrize(
    ("conf", "policy", "appendonly"),
    [("redis-coordination.conf", "noeviction", "yes"), ("redis-cache.conf", "allkeys-lru", None)],
)
def test_redis_configs_start_with_their_eviction_role(tmp_path, conf, policy, appendonly):
    with throwaway_redis(str(ROOT / "deploy/redis" / conf), dir_path=str(tmp_path)) as client:
        assert client.config_get("maxmemory-policy")["maxmemory-policy"] == policy
        if appendonly:
            assert client.config_get("appendonly")["appendonly"] == appendonly
        assert int(client.config_get("maxmemory")["maxmemory"]) > 0
