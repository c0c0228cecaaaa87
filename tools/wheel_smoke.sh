#!/usr/bin/env bash
# Install one built wheel into a fresh venv and use it as a user would, from an empty folder
# with no source tree in sight: quick start, a bundled Play's backtest, a small sweep, the
# exchange simulator answering over loopback, the typed kernel (stubs, .pxd for cimport),
# a portfolio file's backtest.
#
#   tools/wheel_smoke.sh dist/trade_bybit-0.1.0-cp311-...whl /path/to/python3.11
set -euo pipefail
wheel=$(realpath "$1")
py=$2
work=$(mktemp -d)
sim_pid=""
cleanup() { [ -z "$sim_pid" ] || kill "$sim_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$py" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "$wheel"
cd "$work" && mkdir empty && cd empty
t="$work/venv/bin/trade"

"$t" quickstart > quickstart.txt
grep -q "1,206,660 1m bars" quickstart.txt
# (outputs go to files first: `cmd | grep -q` fails under pipefail when grep stops early)
"$t" play list > plays.txt
grep -q 01_ema_cross_basics plays.txt
"$work/venv/bin/python" -m trade.play.reference > reference.md   # the Play reference renders
grep -q "^# Play reference" reference.md
"$t" backtest 02_mtf_trend_pullback --data-dir data --out runs/bt --json > bt.json
"$t" sweep 01_ema_cross_basics --data-dir data --start 2018-01-01 --end 2018-03-01 \
    --param features.ema_fast.params.length=values:5,9 --no-progress --out sweeps/s.parquet > sweep.txt
test -s sweeps/s.parquet
# a portfolio file shipped in the wheel: two Plays on two generated markets, one wallet
"$t" data synth --symbol BTCUSDT --symbol ETHUSDT --days 10 --correlation 0.6 --data-dir pf > synth.txt
plays_dir=$("$work/venv/bin/python" -c "import trade, pathlib; print(pathlib.Path(trade.__file__).parent / 'plays')")
"$t" backtest "$plays_dir/portfolios/two_markets.yml" --data-dir pf --out runs/pf --json > pf.json
test -s runs/pf/portfolio.json

"$t" exchange-sim --data-dir data --symbol BTCUSDT --port 0 --speed 60 > sim.log 2>&1 &
sim_pid=$!
"$work/venv/bin/python" - <<'PY'
import json, re, time, urllib.request
from pathlib import Path
deadline = time.monotonic() + 60
port = None
while port is None and time.monotonic() < deadline:
    m = re.search(r"127\.0\.0\.1:(\d+)", Path("sim.log").read_text())
    port = int(m.group(1)) if m else None
    time.sleep(0.2)
assert port, Path("sim.log").read_text()
with urllib.request.urlopen(f"http://127.0.0.1:{port}/v5/market/time", timeout=10) as r:
    body = json.load(r)
assert body["retCode"] == 0, body
print("exchange-sim ok on port", port)
PY
kill -TERM "$sim_pid"; wait "$sim_pid" || true; sim_pid=""  # (a background job ignores SIGINT)

"$work/venv/bin/python" - <<'PY'
from importlib import resources
import trade, trade._kernels.sim as k
assert "site-packages" in trade.__file__, trade.__file__
files = {p.name for p in resources.files("trade._kernels").iterdir()}
for mod in ("position", "lifecycle", "engine", "ledger", "book", "fills", "batch", "sim",
            "indicators"):
    assert f"{mod}.pxd" in files and f"{mod}.pyi" in files, (mod, sorted(files))
assert "py.typed" in files and "__init__.py" in files
print("wheel ok:", trade.__version__, k.__file__)
PY
# a Cython extension of the user's own cimports the kernel's Position from the installed wheel
"$work/venv/bin/pip" install --quiet "Cython>=3.0.10" setuptools
cat > use_position.pyx <<'PYX'
from trade._kernels.position cimport Position
def doubled_size(Position p):
    return 2.0 * p.st.size
PYX
"$work/venv/bin/cythonize" -q -i use_position.pyx >/dev/null
"$work/venv/bin/python" -c "
import use_position
from trade import Position
assert use_position.doubled_size(Position('BTCUSDT', side=1, size=1.5)) == 3.0
print('cimport ok')"
echo "smoke ok: $(basename "$wheel")"
