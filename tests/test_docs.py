"""The documentation hangs together: links resolve, no stale docs pointers, the README stays short.

Files come from one `git ls-files` (tracked files plus untracked ones git does not ignore); without
git, from walking the checkout.
"""
from __future__ import annotations

import os
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 200
SETUP_COMMANDS = ("stocktune tune studies/sample.toml", "python3 -m pytest")
SKIP_DIRS = {".git", "runs", "__pycache__", ".pytest_cache", "build", "dist", ".venv", "venv",
             "node_modules", ".whl", ".gl"}

FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[^\n]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
DOCS_PATH = re.compile(r"(?<![\w./-])docs/[\w.-]+\.md\b")


@cache
def repo_files() -> tuple[str, ...]:
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, text=True, check=True, timeout=60).stdout
        files = [line for line in out.splitlines() if line]
    except (OSError, subprocess.SubprocessError):
        files = []
    if not files:
        for dirpath, dirnames, filenames in os.walk(ROOT):
            dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
            files += [os.path.relpath(os.path.join(dirpath, f), ROOT) for f in filenames]
    return tuple(sorted(f for f in set(files) if (ROOT / f).is_file()))


def markdown_files() -> list[str]:
    return [f for f in repo_files() if f.lower().endswith(".md")]


def read_text(rel: str) -> str | None:
    data = (ROOT / rel).read_bytes()
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def link_targets(markdown: str) -> list[str]:
    """Every link and image target outside code blocks and inline code."""
    prose = INLINE_CODE.sub("", FENCE.sub("", markdown))
    return LINK.findall(prose)


def is_external(target: str) -> bool:
    return target.startswith("#") or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) is not None


def test_link_parser_sees_links_and_skips_code():
    text = ("[a](x.md) ![img](pics/p.png \"title\") [b](y.md#part) [c](#local) [d](https://e.org)\n"
            "`[e](inline.md)`\n```\n[f](fenced.md)\n```\n1. step\n   ```bash\n   [g](indented.md)\n   ```\n")
    assert link_targets(text) == ["x.md", "pics/p.png", "y.md#part", "#local", "https://e.org"]
    assert [t for t in link_targets(text) if not is_external(t)] == ["x.md", "pics/p.png", "y.md#part"]


def test_markdown_files_found():
    assert "README.md" in markdown_files()


@pytest.mark.parametrize("md", markdown_files())
def test_relative_links_resolve(md):
    text = read_text(md)
    assert text is not None, f"{md} is not UTF-8 text"
    broken = []
    for target in link_targets(text):
        if is_external(target):
            continue
        path = target.split("#", 1)[0].split("?", 1)[0]
        if not path:
            continue
        resolved = (ROOT / md).parent / path
        if not resolved.exists():
            broken.append(target)
    assert not broken, f"{md}: links to missing files: {broken}"


def test_readme_is_short_and_starts_with_the_setup_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    n_lines = len(text.splitlines())
    assert n_lines <= README_MAX_LINES, f"README.md has {n_lines} lines (at most {README_MAX_LINES})"
    first_block = FENCE.search(text)
    assert first_block, "README.md has no code block"
    for command in SETUP_COMMANDS:
        assert command in first_block.group(0), f"README.md's first code block lacks `{command}`"


def test_docs_paths_mentioned_anywhere_exist():
    """A `docs/<name>.md` path in any text file (a comment in a study file, a compose file, a doc)."""
    missing = []
    for rel in repo_files():
        text = read_text(rel)
        if text is None:
            continue
        for path in set(DOCS_PATH.findall(text)):
            if not (ROOT / path).is_file():
                missing.append(f"{rel}: {path}")
    assert not missing, "mentions of missing docs files:\n" + "\n".join(sorted(missing))
