"""One name per environment variable, documented in one place (issue 12, item 19).

common/env.py VARIABLES is the table: every variable the code reads goes through common.env, every
``STOCKTUNE_*`` name anywhere in the tree is in the table, and docs/environment.md shows exactly it.
"""
from __future__ import annotations

import re
import subprocess

import pytest
from cli_run import ROOT

from common import env

PACKAGES = ("common", "data_prep", "model", "tuner", "cli")  # what `stocktune` runs
TOOLS = ("bench",)  # scripts that build their children's environment themselves
# reading the process environment other than through common.env
RAW_READ = re.compile(r"os\.environ|os\.getenv|getenv\(|environ\.get")
# names that look like variables but are not: a test's constant, the misspelling env.py warns about
NOT_VARIABLES = {"STOCKTUNE_SERVICES", "STOCKTUNE_CAHCE"}


def _tracked(*patterns: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", *patterns], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0 or not out.stdout.strip():
        pytest.skip("needs a git checkout")
    return [f for f in out.stdout.splitlines() if (ROOT / f).is_file()]


def test_only_common_env_reads_the_environment():
    offenders = []
    for rel in _tracked(*(f"{p}/*.py" for p in PACKAGES)):
        if rel == "common/env.py":
            continue
        for n, line in enumerate((ROOT / rel).read_text().splitlines(), 1):
            if RAW_READ.search(line):
                offenders.append(f"{rel}:{n}: {line.strip()}")
    assert not offenders, "read the environment through common.env (get/expand/child_environ):\n" + "\n".join(offenders)


def test_every_variable_read_by_name_is_documented():
    names = set()
    for rel in _tracked(*(f"{p}/*.py" for p in PACKAGES + TOOLS)):
        names |= set(re.findall(r"""\b(?:env\.get|get_env)\(\s*["']([A-Z][A-Z0-9_]+)["']""", (ROOT / rel).read_text()))
    assert names, "found no env.get calls: the pattern is stale"
    assert names <= set(env.VARIABLES), sorted(names - set(env.VARIABLES))


def test_every_stocktune_name_in_the_tree_is_one_of_the_table():
    unknown = {}
    for rel in _tracked():
        try:
            text = (ROOT / rel).read_text()
        except (UnicodeDecodeError, OSError):
            continue
        for name in set(re.findall(r"\bSTOCKTUNE_[A-Z0-9_]+", text)) - set(env.VARIABLES) - NOT_VARIABLES:
            unknown.setdefault(name, []).append(rel)
    assert not unknown, f"STOCKTUNE_* names missing from common/env.py VARIABLES (misspelt or undocumented): {unknown}"


def test_docs_environment_md_is_the_table():
    doc = (ROOT / "docs" / "environment.md").read_text()
    assert env.markdown_table() in doc, (
        "docs/environment.md is out of date with common/env.py VARIABLES; paste the output of\n"
        "  python3 -c 'from common.env import markdown_table; print(markdown_table())'")
    readme = (ROOT / "README.md").read_text()
    assert "docs/environment.md" in readme


def test_child_environ_refuses_an_undocumented_name():
    assert env.child_environ(STOCKTUNE_WORKER_INDEX="3")["STOCKTUNE_WORKER_INDEX"] == "3"
    with pytest.raises(KeyError, match="VARIABLES"):
        env.child_environ(STOCKTUNE_CAHCE="/tmp")


def test_expand_reads_the_environment_and_defaults(monkeypatch):
    monkeypatch.setenv("ST_TEST_PW", "pw")
    monkeypatch.delenv("ST_TEST_UNSET", raising=False)
    assert env.expand("a:${ST_TEST_PW}@${ST_TEST_UNSET:-h}", lambda v: "?") == "a:pw@h"
    assert env.expand("${ST_TEST_UNSET}", lambda v: f"<{v}>") == "<ST_TEST_UNSET>"
