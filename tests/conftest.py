"""Shared test settings: hypothesis profiles and the path of the real market data."""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
#: The real price files the tests use, each with the sha256 of its unpacked CSV
#: (tests/data/README.md).
REAL_FILES: dict[str, tuple[Path, str]] = {
    "coinbase_btcusd_1h.csv": (
        REPO / "trade" / "datasets" / "coinbase_btcusd_1h.csv.gz",
        "4815e7573a764097f9252ad4901331d6ae8917f2cca4e3a7c6f77693556da16d",
    ),
    "bitfinex_btcusd_1h.csv": (
        TESTS / "data" / "bitfinex_btcusd_1h.csv.gz",
        "6407fff7fb873e5bb904dfa5dcdb64062c54200dbc82c3da46575cbb071f9f47",
    ),
    "binance_btcbusd_1m_sample.csv": (
        TESTS / "data" / "binance_btcbusd_1m_sample.csv.gz",
        "1bf2ee7b6be60a00c68cd8095ab5a32cb831002761fa6c3619fcb0d9235f389f",
    ),
    "es_futures_1m.csv": (
        TESTS / "data" / "es_futures_1m.csv.gz",
        "c03f529f49d99fceafe0612635798dc600e02b6b638c3b521144cc0d9eb14fad",
    ),
}


def unpack_real_data(dest: Path) -> Path:
    """Unpack the repository's real price files into `dest` under their original names."""
    dest.mkdir(parents=True, exist_ok=True)
    for name, (packed, digest) in REAL_FILES.items():
        raw = gzip.decompress(packed.read_bytes())
        got = hashlib.sha256(raw).hexdigest()
        assert got == digest, f"{packed}: unpacks to sha256 {got}, expected {digest}"
        (dest / name).write_bytes(raw)
    return dest


@pytest.fixture(scope="session")
def real_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the real price files (tests/data/README.md) as plain CSV."""
    return unpack_real_data(tmp_path_factory.mktemp("real_data"))


@pytest.fixture(scope="session")
def shared_data(real_data: Path) -> Path:
    """Old name of `real_data`, kept while tests move over."""
    return real_data
