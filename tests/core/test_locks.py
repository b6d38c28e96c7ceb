"""Which lock goes where: production gets the runtime, the MariaDB driver and the web server only."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _packages(name: str) -> set[str]:
    text = (ROOT / "requirements" / name).read_text()
    return {m.lower() for m in re.findall(r"^([A-Za-z0-9_.-]+)==", text, flags=re.MULTILINE)}


def test_production_lock_has_the_driver_and_server_and_nothing_for_tests():
    prod = _packages("prod.lock")
    assert {"django", "celery", "mysqlclient", "gunicorn"} <= prod
    assert prod.isdisjoint({"pytest", "pytest-django", "playwright", "ruff", "mypy", "hypothesis"})


def test_production_lock_pins_the_same_versions_as_the_test_lock():
    """What the tests ran is what production installs."""
    prod_text = (ROOT / "requirements/prod.lock").read_text()
    test_text = (ROOT / "requirements/test.lock").read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", test_text, flags=re.MULTILINE))
    differing = {
        name: (version, pins[name])
        for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", prod_text, flags=re.MULTILINE)
        if name in pins and pins[name] != version
    }
    assert differing == {}


def test_makefile_installs_the_production_lock_exactly():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^install-prod:", makefile, flags=re.MULTILINE)
    assert "pip sync -q --python $(PY) requirements/prod.lock" in makefile
