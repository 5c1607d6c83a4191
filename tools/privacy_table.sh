#!/usr/bin/env bash
# Prints the accountant table of docs/privacy.md ("Figures", "Accountant values"): for each (q, sigma, T) below,
# epsilon at delta = 1e-5 from fedpp-privacy's RDP and PLD accountants, the PLD discretization error
# bound and the wall time of the PLD call. Usage: tools/privacy_table.sh [path/to/fedpp-privacy]
set -euo pipefail
tool=${1:-build/tools/fedpp-privacy}
field() { sed -n "s/.*\"$1\": \([^,}]*\).*/\1/p"; }
echo "| q | σ | T | RDP ε (order) | PLD ε | PLD error bound | PLD grid h | PLD time |"
echo "|---|---|---|---|---|---|---|---|"
while read -r q s t; do
  rdp=$("$tool" --sampling-rate "$q" --steps "$t" --noise-multiplier "$s" --delta 1e-5 --json)
  start=$(date +%s%N)
  pld=$("$tool" --sampling-rate "$q" --steps "$t" --noise-multiplier "$s" --delta 1e-5 --json --accountant pld)
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  printf "| %s | %s | %s | %.4f (%s) | %.4f | %.2g | %s | %d ms |\n" "$q" "$s" "$t" \
    "$(field epsilon <<<"$rdp")" "$(field order <<<"$rdp")" "$(field epsilon <<<"$pld")" \
    "$(field discretization_error <<<"$pld")" "$(field discretization <<<"$pld")" "$ms"
done <<'CASES'
0.004266666666666667 1.1 14063
0.001 1 100
0.001 4.4 100
0.01 1 100
0.01 1 1000
0.01 2.5 10000
0.01 0.5 100000
0.1 1 1000
0.1 4.4 100000
1 1 1
1 10 100000
0.0001 10 100000
CASES
