"""Where TLS ends: deploy/nginx/nginx.conf with and without deploy/nginx/tls.conf.example.

An echo server stands in for gunicorn and answers with the X-Forwarded-Proto it received, which
is what Django's SECURE_SSL_REDIRECT decides on. nginx runs from a temp prefix.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


class _EchoProto(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = (self.headers.get("X-Forwarded-Proto") or "-").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_upstream() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoProto)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def _wait_for(port: int) -> None:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)


@pytest.fixture
def nginx_with_tls(echo_upstream) -> Iterator[tuple[str, str]]:
    base = Path(tempfile.mkdtemp(prefix="nginx-tls-test-"))
    prefix = base / "nginx"
    for sub in ("logs", "run", "temp", "cache", "conf/tls.d"):
        (prefix / sub).mkdir(parents=True)
        os.chmod(prefix / sub, 0o777)  # noqa: S103 (nginx workers run unprivileged)
    os.chmod(base, 0o755)  # noqa: S103
    http_port, https_port = free_port(), free_port()
    conf_dir = prefix / "conf"
    source = (ROOT / "deploy/nginx/nginx.conf").read_text()
    for old, new in {
        "listen 80 backlog=4096;": f"listen 127.0.0.1:{http_port};",
        "server 127.0.0.1:8000 max_fails=3 fail_timeout=10s;": (
            f"server 127.0.0.1:{echo_upstream} max_fails=0;"
        ),
        "worker_processes auto;": "worker_processes 1;",
    }.items():
        assert source.count(old) == 1, f"deploy/nginx/nginx.conf no longer contains {old!r}"
        source = source.replace(old, new)
    (conf_dir / "nginx.conf").write_text(source)
    shutil.copy(ROOT / "deploy/nginx/real_ip.conf", conf_dir / "real_ip.conf")
    with (conf_dir / "real_ip.conf").open("a") as extra:
        extra.write("set_real_ip_from 127.0.0.1;\n")  # the test client plays the load balancer
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(conf_dir / "key.pem"),
         "-out", str(conf_dir / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    tls = (ROOT / "deploy/nginx/tls.conf.example").read_text()
    for old, new in {
        "listen 443 ssl http2 backlog=4096;": f"listen 127.0.0.1:{https_port} ssl;",
        "/etc/letsencrypt/live/api.example.com/fullchain.pem": str(conf_dir / "cert.pem"),
        "/etc/letsencrypt/live/api.example.com/privkey.pem": str(conf_dir / "key.pem"),
    }.items():
        assert tls.count(old) == 1, f"tls.conf.example no longer contains {old!r}"
        tls = tls.replace(old, new)
    (conf_dir / "tls.d" / "tls.conf").write_text(tls)
    conf = conf_dir / "nginx.conf"
    check = subprocess.run(
        [NGINX, "-t", "-p", f"{prefix}/", "-c", str(conf)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen([NGINX, "-p", f"{prefix}/", "-c", str(conf), "-g", "daemon off;"])
    try:
        _wait_for(http_port)
        _wait_for(https_port)
        yield f"http://127.0.0.1:{http_port}", f"https://127.0.0.1:{https_port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)


def _proto_seen(url: str, headers: dict[str, str] | None = None) -> str:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # our own throwaway certificate
    request = urllib.request.Request(f"{url}/api/anything", headers=headers or {})
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        return response.read().decode()


def test_tls_at_nginx_tells_django_https_and_port_80_http(nginx_with_tls):
    http_url, https_url = nginx_with_tls
    assert _proto_seen(https_url) == "https"
    assert _proto_seen(http_url) == "http"  # so Django redirects it to HTTPS when DEBUG=0


def test_tls_at_a_load_balancer_keeps_its_forwarded_proto(nginx_with_tls):
    http_url, _ = nginx_with_tls
    # The balancer ended TLS and talks plain HTTP to nginx: Django must still see https, or
    # SECURE_SSL_REDIRECT would redirect every request forever.
    assert _proto_seen(http_url, {"X-Forwarded-Proto": "https"}) == "https"
    assert _proto_seen(http_url, {"X-Forwarded-Proto": "gopher"}) == "http"


def test_config_without_tls_files_is_valid():
    """An empty (or missing) tls.d/ leaves nginx on port 80 only: TLS ends in front of it."""
    base = Path(tempfile.mkdtemp(prefix="nginx-notls-test-"))
    try:
        for sub in ("logs", "run", "temp", "cache", "conf"):
            (base / sub).mkdir(parents=True)
        shutil.copy(ROOT / "deploy/nginx/nginx.conf", base / "conf" / "nginx.conf")
        shutil.copy(ROOT / "deploy/nginx/real_ip.conf", base / "conf" / "real_ip.conf")
        check = subprocess.run(
            [NGINX, "-t", "-p", f"{base}/", "-c", str(base / "conf" / "nginx.conf")],
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0, check.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)
