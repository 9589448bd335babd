#!/usr/bin/env bash
# bench/unpack.sh [IMAGE...]: wharf unpack vs umoci unpack --rootless on the shared bench images, in one run,
# as a ratio (default images: debian large). Each tool runs $WHARF_BENCH_RUNS times (default 3), alternating;
# the target is deleted and `sync` run before each timed run (untimed). Median wall time, CPU, peak RSS.
# The trees are compared once per image (names, types, modes, sizes, link targets): a fast wrong answer is no answer.
set -euo pipefail
source "$(dirname "$0")/lib.sh" unpack

RUNS=${WHARF_BENCH_RUNS:-3}
IMAGES=("$@"); ((${#IMAGES[@]})) || IMAGES=(debian large)

command -v umoci >/dev/null || die "umoci is not installed (apt-get install -y umoci)"
[[ -f $ROOT/dist/bin/wharf.js ]] || die "wharf is not built: run npm run build"
for img in "${IMAGES[@]}"; do [[ -d $OCI/$img ]] || die "no fixture $img: run $SHARED/bench/make-fixtures.sh"; done
mkdir -p "$OUT"
: >"$OUT/runs.tsv"

timed() {
  local tool=$1 scen=$2 img=$3 run=$4 wall rss user sys; shift 4
  rm -rf "$S/dest"; sync
  /usr/bin/time -f '%e %M %U %S' -o "$S/time" "$@" >>"$OUT/commands.log" 2>&1 || die "$tool $scen $img failed: see $OUT/commands.log"
  read -r wall rss user sys <"$S/time"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$scen" "$img" "$run" "$wall" "$rss" "$user" "$sys" >>"$OUT/runs.tsv"
  say "  $tool $scen $img run $run: ${wall}s ${rss}KB"
}
listing() { (cd "$1" && find . -printf '%p %y %m %s %l\n' | LC_ALL=C sort); }

for img in "${IMAGES[@]}"; do
  cat "$OCI/$img"/blobs/sha256/* >/dev/null
  "${WHARF[@]}" unpack -q "oci:$OCI/$img:latest" "$S/w" && umoci unpack --rootless --image "$OCI/$img:latest" "$S/u" >/dev/null
  diff <(listing "$S/w") <(listing "$S/u/rootfs") >"$OUT/tree-diff-$img.txt" || die "$img: wharf and umoci unpacked different trees: see $OUT/tree-diff-$img.txt"
  rm -rf "$S/w" "$S/u"
  for ((r = 1; r <= RUNS; r++)); do
    timed wharf unpack "$img" "$r" "${WHARF[@]}" unpack -q "oci:$OCI/$img:latest" "$S/dest"
    timed umoci unpack "$img" "$r" umoci unpack --rootless --image "$OCI/$img:latest" "$S/dest"
  done
done

{
  echo "# wharf unpack vs umoci unpack --rootless, $(date -u +%FT%TZ), $(nproc) cores; $(umoci --version); node $(node --version); $RUNS runs each, medians; same trees checked"
  awk -F'\t' -v other=umoci -f "$HERE/summarize.awk" "$OUT/runs.tsv"
} | tee "$OUT/results.txt"
