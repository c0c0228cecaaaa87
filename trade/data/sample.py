"""The real market data the package ships for the quick start (see trade/datasets/README.md)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from trade.data.importer import file_sha256, import_file
from trade.data.store import Store

SAMPLE_FILE = "coinbase_btcusd_1h.csv.gz"
#: the symbol the shipped sample is stored under
SAMPLE_SYMBOL = "BTCUSDT"
#: the seed of the sample's bridge from hourly to 1m bars
SAMPLE_SEED = 7


def sample_path() -> Path:
    """Path of the shipped Coinbase BTC/USD hourly file (2017-07-01 .. 2019-10-17).

    Returns
    -------
    Path

    Raises
    ------
    FileNotFoundError
        The packaged file is missing (a broken install).
    """
    path = Path(str(resources.files("trade") / "datasets" / SAMPLE_FILE))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the packaged sample data is missing (reinstall trade)")
    return path


def ensure_sample_data(store: Store, symbol: str = SAMPLE_SYMBOL) -> str:
    """Make sure the shipped real hourly BTC data is in `store` as 1m bars.

    The hourly bars are bridged to 1m with seed 7 (`bridge_to_1m`, recorded in the
    provenance). Idempotent and cheap once done.

    Parameters
    ----------
    store : Store
    symbol : str
        The symbol to store them under.

    Returns
    -------
    str
        `symbol`.

    Raises
    ------
    FileNotFoundError
        The packaged sample file is missing (a broken install).
    RefusedWriteError
        Different bars are already stored for `symbol` in those months.
    """
    path = sample_path()
    sha = file_sha256(path)
    for entry in store.provenance(symbol).get("imports", []):
        same = entry.get("source_sha256") == sha and entry.get("seed") == SAMPLE_SEED
        if same and store.month_files(symbol):
            return symbol
    import_file(store, path, symbol, bridge_1m=True, seed=SAMPLE_SEED, source_name=SAMPLE_FILE)
    return symbol
