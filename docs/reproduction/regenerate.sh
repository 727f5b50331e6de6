#!/usr/bin/env bash
# Regenerate REPRODUCTION.md (and its .json and figures) from the run records kept in git under
# docs/reproduction/runs/ (one folder per sweep, as `icrl archive sweeps/NAME --out
# docs/reproduction/runs` lays them out). Each sweep folder's NOTE.txt says how its runs were made
# (commit, machine, what ran beside them) and becomes a --note line of the report.
# Needs rliable: python -m pip install -e ".[stats]".
set -euo pipefail
cd "$(dirname "$0")/../.."
notes=()
for note in docs/reproduction/runs/*/NOTE.txt; do
  notes+=(--note "$(tr '\n' ' ' < "$note")")
done
icrl compare docs/reproduction/runs/*/ --paper --out REPRODUCTION.md --figures docs/reproduction --force "${notes[@]}" "$@"
