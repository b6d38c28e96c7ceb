from __future__ import annotations

import re
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
