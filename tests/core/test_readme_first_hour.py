"""The README promises what the code does: demo logins, Debian packages, the operator guide."""

from __future__ import annotations

import re
from pathlib import Path

from accounts.seeding import DEMO_ACCOUNTS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_readme_lists_every_demo_account_with_its_password():
    rows = re.findall(r"^\| ([a-z]+) \| `([^`]+)` \| `([^`]+)` \|", README, flags=re.MULTILINE)
    assert rows == [(a.role, a.email, a.password) for a in DEMO_ACCOUNTS]
    assert {a.role for a in DEMO_ACCOUNTS} == {"admin", "editor", "member"}


def test_readme_names_the_debian_packages_make_test_installs():
    makefile = (ROOT / "Makefile").read_text()
    installed = re.search(r"^TEST_DEBIAN_PACKAGES := (.*)$", makefile, flags=re.MULTILINE)
    named = re.search(r"Debian `([^`]+)` when missing", README)
    assert installed and named
    assert named.group(1).split() == installed.group(1).split()


def test_production_section_links_the_operator_guide_first():
    production = README.split("\n## Production\n", 1)[1].split("\n## ", 1)[0]
    first_link = re.search(r"\]\(([^)]+)\)", production)
    assert first_link and first_link.group(1) == "docs/operations.md"
    assert (ROOT / "docs/operations.md").is_file()
