#!/usr/bin/env bash
# bench/startup.sh: what a short command costs before it does any work, wharf vs skopeo, in one run.
#
# Scenarios (the `small` fixture: one 1 MiB layer, so the work itself is a few milliseconds):
#   version   `--version`
#   inspect   inspect oci:small:latest
#   copy      copy oci:small:latest -> fresh oci: directory
# Tools, alternating run by run: wharf (the bin, dist/bin/wharf.js: one bundle), skopeo, and
# wharf-modules (dist/src/cli/main.js: the same code as ~190 separate ES modules) to show what the bundle saves.
# Each runs $WHARF_BENCH_RUNS times (default 15). Reported: medians of wall time, CPU and peak RSS as ratios
# wharf/skopeo and wharf/wharf-modules. Node's own start (`node -e 0`) is timed as well: no Node CLI goes below it.
set -euo pipefail
source "$(dirname "$0")/lib.sh" startup

RUNS=${WHARF_BENCH_RUNS:-15}

command -v skopeo >/dev/null || die "skopeo is not installed (apt-get install -y skopeo)"
[[ -f $ROOT/dist/bin/wharf.js ]] || die "wharf is not built: run npm run build"
[[ -d $OCI/small ]] || die "no fixture small: run $SHARED/bench/make-fixtures.sh"
mkdir -p "$OUT"
: >"$OUT/runs.tsv"

timed() {
  local tool=$1 scen=$2 run=$3 wall rss user sys; shift 3
  rm -rf "$S/dest"
  /usr/bin/time -f '%e %M %U %S' -o "$S/time" "$@" >>"$OUT/commands.log" 2>&1 || die "$tool $scen failed: see $OUT/commands.log"
  read -r wall rss user sys <"$S/time"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$scen" small "$run" "$wall" "$rss" "$user" "$sys" >>"$OUT/runs.tsv"
}

declare -A BIN=([wharf]="node $ROOT/dist/bin/wharf.js" [wharf-modules]="node $ROOT/dist/src/cli/main.js" [skopeo]=skopeo)
cat "$OCI/small"/blobs/sha256/* >/dev/null
for ((r = 1; r <= RUNS; r++)); do
  for tool in wharf skopeo wharf-modules; do
    read -ra cmd <<<"${BIN[$tool]}"
    timed "$tool" version "$r" "${cmd[@]}" --version
    timed "$tool" inspect "$r" "${cmd[@]}" inspect "oci:$OCI/small:latest"
    timed "$tool" copy "$r" "${cmd[@]}" copy -q "oci:$OCI/small:latest" "oci:$S/dest:latest"
  done
  timed node node-e-0 "$r" node -e 0
done
say "done: $OUT"

{
  echo "# start-up, $(date -u +%FT%TZ), $(nproc) cores; $(skopeo --version); node $(node --version); $RUNS runs each, medians"
  echo "# wharf (bundle) vs skopeo"
  awk -F'\t' -f "$HERE/summarize.awk" "$OUT/runs.tsv" | grep -v node-e-0
  echo "# wharf (bundle) vs wharf-modules (the same code unbundled)"
  awk -F'\t' -v other=wharf-modules -f "$HERE/summarize.awk" "$OUT/runs.tsv" | grep -v node-e-0
  awk -F'\t' '$1 == "node" { print $5 }' "$OUT/runs.tsv" | sort -n | awk '{ w[NR] = $1 } END { printf "# node -e 0: median %.3f s\n", (NR % 2 ? w[(NR + 1) / 2] : (w[NR / 2] + w[NR / 2 + 1]) / 2) }'
} | tee "$OUT/results.txt"
