#!/usr/bin/env bash
# Mutation testing of the interlock (src/treadctl/safety/interlock.py) with mutmut 3.
#
# Not part of the normal test run. The configuration is [tool.mutmut] in pyproject.toml:
# only the interlock is mutated and every mutant runs tests/safety/test_interlock.py.
# Starts from a fresh state (removes ./mutants/, mutmut's gitignored work copy), runs
# every mutant, then prints the score (killed / total) and every surviving mutant with
# its diff. Exits 1 if a survivor is not explained in docs/mutation-testing.md.
#
#   scripts/mutation.sh              # all cores
#   scripts/mutation.sh --max-children 2
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-.venv}"
mutmut="$venv/bin/mutmut"
doc="docs/mutation-testing.md"

rm -rf mutants
started=$(date +%s)
"$mutmut" run "$@"
elapsed=$(($(date +%s) - started))
"$mutmut" export-cicd-stats >/dev/null

# `mutmut results` lists every mutant that was not killed, as "    name: status".
"$mutmut" results >mutants/not-killed.txt

"$venv/bin/python" - "$elapsed" "$doc" <<'EOF'
import json
import sys
from pathlib import Path

elapsed, doc = int(sys.argv[1]), Path(sys.argv[2])
s = json.loads(Path("mutants/mutmut-cicd-stats.json").read_text())
total, killed = s["total"], s["killed"]
pct = 100.0 * killed / total if total else 0.0
print()
print(f"mutation score: {killed} / {total} killed ({pct:.1f} %) in {elapsed} s")
others = {k: v for k, v in s.items() if k not in ("total", "killed") and v}
if others:
    print("  not killed: " + ", ".join(f"{k} {v}" for k, v in others.items()))
EOF

status=0
explained=""
[ -f "$doc" ] && explained=$(cat "$doc")
while IFS= read -r line; do
    name="${line%%:*}"
    name="${name#"${name%%[![:space:]]*}"}"
    [ -n "$name" ] || continue
    echo
    echo "---- ${line#"${line%%[![:space:]]*}"}"
    "$mutmut" show "$name" | sed -n '2,$p'
    if [[ "$explained" != *"$name"* ]]; then
        echo "!!!! not explained in $doc"
        status=1
    fi
done <mutants/not-killed.txt
exit "$status"
