#!/usr/bin/env bash
# Print the path of a working CPython of version $1 (e.g. 3.13): `python3.X` on PATH, else
# pyenv's newest 3.X (pyenv's shims answer only for the versions pyenv has enabled), or the
# path in TRADE_PYTHON_3_13 (etc.) when set. Exits 2 when there is none.
set -euo pipefail
v=${1:?usage: tools/find_python.sh 3.X}
var="TRADE_PYTHON_${v//./_}"
if [ -n "${!var:-}" ]; then echo "${!var}"; exit 0; fi
if "python$v" -c '' 2>/dev/null; then command -v "python$v"; exit 0; fi
if command -v pyenv >/dev/null; then
    cand=$(ls -d "$(pyenv root)"/versions/"$v".*/bin/"python$v" 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$cand" ] && "$cand" -c ''; then echo "$cand"; exit 0; fi
fi
echo "error: no CPython $v found (install it, or set $var to its path)" >&2
exit 2
