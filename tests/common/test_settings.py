"""TOML files as editors save them: a BOM or UTF-16 is text, not "Invalid statement" (issue 20)."""
from __future__ import annotations

import pytest

from common.errors import InputError
from common.settings import toml_text
from model.run_file import read_toml

TOML = '[data]\nsource = "sample"\nlook_back = 5\n'


@pytest.mark.parametrize("data", [b"\xef\xbb\xbf" + TOML.encode(), TOML.encode("utf-16"), TOML.encode()],
                         ids=["utf8_bom", "utf16", "plain"])
def test_a_bom_or_utf16_is_read(tmp_path, data):
    (tmp_path / "s.toml").write_bytes(data)
    assert read_toml(tmp_path / "s.toml") == {"data": {"source": "sample", "look_back": 5}}


def test_bytes_that_are_not_utf8_name_the_line(tmp_path):
    (tmp_path / "s.toml").write_bytes(b'[data]\n# Soci\xe9t\xe9\nsource = "sample"\n')
    with pytest.raises(InputError, match=r"s\.toml, line 2: the byte e9 is not UTF-8 text; save the file as UTF-8"):
        toml_text(tmp_path / "s.toml")
