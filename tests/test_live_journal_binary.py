"""A file that is no journal at all is refused by name and never "repaired" (truncated)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trade.core.errors import InputError
from trade.live.journal import open_journal, read_journal


@settings(max_examples=60)
@given(st.binary(min_size=1, max_size=200).filter(lambda b: b"\x00" in b or b[:1] >= b"\x80"))
def test_binary_files_are_refused_untouched(tmp_path_factory: pytest.TempPathFactory,
                                            blob: bytes) -> None:
    path = tmp_path_factory.mktemp("j") / "run.jsonl"
    path.write_bytes(blob)
    for reader in (read_journal, open_journal):
        with pytest.raises(InputError, match=rf"journal {re.escape(str(path))}: "):
            reader(path)
    assert path.read_bytes() == blob


def test_a_parquet_file_given_as_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "trades.parquet"
    path.write_bytes(b"PAR1\x15\x04\x15\x80\x01\x00\x00garbage")
    with pytest.raises(InputError, match="not a journal"):
        open_journal(path)
    assert path.read_bytes().startswith(b"PAR1")


def test_a_torn_multibyte_tail_is_still_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    whole = b'{"kind": "bar", "note": "\xc3\xa9"}\n'
    path.write_bytes(whole + b'{"kind": "fill", "note": "\xc3')
    records, repair = open_journal(path)
    assert [r["kind"] for r in records] == ["bar"]
    assert repair is not None and path.read_bytes() == whole
