#!/usr/bin/env bash
# Regenerate a report from the run records kept in git under docs/reproduction/runs/ (one folder
# per sweep, as `icrl archive sweeps/NAME --out docs/reproduction/runs` lays them out). Each sweep
# folder's NOTE.txt says how its runs were made (commit, machine, what ran beside them) and becomes
# a --note line of the report.
#
#   bash docs/reproduction/regenerate.sh [OUT.md [FIGURES_DIR]] [more icrl compare options]
#
# OUT.md defaults to REPRODUCTION.md with its figures in docs/reproduction/figures/. The report
# made before records were kept (its run directories lost) is docs/reproduction/earlier/.
# Needs rliable: python -m pip install -e ".[stats]".
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-REPRODUCTION.md}"
figures="${2:-docs/reproduction/figures}"
shift $(( $# < 2 ? $# : 2 ))
notes=()
for note in docs/reproduction/runs/*/NOTE.txt; do
  notes+=(--note "$(tr '\n' ' ' < "$note")")
done
icrl compare docs/reproduction/runs/*/ --paper --out "$out" --figures "$figures" --force "${notes[@]}" "$@"
