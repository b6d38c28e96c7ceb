"""deploy/supervisor/with-env reads the env file as systemd's EnvironmentFile= does."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _exported(env_file: Path, name: str) -> str:
    result = subprocess.run(
        ["sh", str(ROOT / "deploy/supervisor/with-env"), "printenv", name],
        env={"ENV_FILE": str(env_file), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return result.stdout.rstrip("\n")


def test_values_are_taken_literally(tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("# a comment\n\nDATABASE_URL=mysql://app:pa$$ word@db/platform\n")
    assert _exported(env_file, "DATABASE_URL") == "mysql://app:pa$$ word@db/platform"


def test_env_example_works_as_the_supervisor_env_file():
    env_file = ROOT / ".env.example"
    assert _exported(env_file, "SYNC_TRACKED_FIELDS").startswith("email,name,")
    assert _exported(env_file, "RATE_LIMIT_STATS") == "60/m"
