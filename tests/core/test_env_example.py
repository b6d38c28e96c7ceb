from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_lists_every_variable_settings_reads():
    settings_source = (ROOT / "config/settings.py").read_text()
    read = set(
        re.findall(r'env\.(?:str|int|bool|float|list|db_url)\(\s*"([A-Z0-9_]+)"', settings_source)
    )
    listed = set(
        re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), flags=re.MULTILINE)
    )
    assert read, "no env reads found: the pattern is broken"
    assert sorted(read - listed) == []
    assert sorted(listed - read) == []


def _env_file_run(tmp_path: Path, *args: str, **values: str) -> subprocess.CompletedProcess:
    """Run manage.py with `.env.example` (some values filled in) as its only configuration."""
    lines = []
    for line in (ROOT / ".env.example").read_text().splitlines():
        name = line.split("=", 1)[0]
        lines.append(f"{name}={values.pop(name)}" if name in values else line)
    assert not values, f"not in .env.example: {sorted(values)}"
    env_file = tmp_path / "env"
    env_file.write_text("\n".join(lines) + "\n")
    listed = set(re.findall(r"^([A-Z0-9_]+)=", env_file.read_text(), flags=re.MULTILINE))
    # Exported variables win over the file: drop every one the file sets, as on a fresh shell.
    scrubbed = {k: v for k, v in os.environ.items() if k not in listed}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**scrubbed, "ENV_FILE": str(env_file)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_env_example_copied_as_is_passes_check(tmp_path):
    before = set(ROOT.iterdir())
    result = _env_file_run(tmp_path, "check", DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    # A blank PROMETHEUS_MULTIPROC_DIR= once made prometheus_client write *.db files here.
    assert sorted(str(p) for p in set(ROOT.iterdir()) - before) == []


def test_env_example_with_production_secrets_passes_check_deploy(tmp_path):
    result = _env_file_run(
        tmp_path,
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(64),
        JWT_SIGNING_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="api.example.com",
        DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout


def test_env_example_has_no_inline_comments():
    """systemd's EnvironmentFile= and django-environ both keep `# ...` as part of a value."""
    assignments = [
        line
        for line in (ROOT / ".env.example").read_text().splitlines()
        if re.match(r"^[A-Z0-9_]+=", line)
    ]
    assert assignments
    assert [line for line in assignments if "#" in line] == []


def test_blank_value_means_the_default(tmp_path):
    """`SECURE_SSL_REDIRECT=` (blank, as in .env.example) keeps the production default: on."""
    result = _env_file_run(
        tmp_path,
        "shell",
        "-v",
        "0",
        "-c",
        "from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.CURSOR_SIGNING_KEY == s.SECRET_KEY)",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(64),
        JWT_SIGNING_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="api.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "31536000", "True"]
