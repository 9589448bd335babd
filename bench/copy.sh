#!/usr/bin/env bash
# bench/copy.sh [IMAGE...]: wharf copy vs skopeo copy on the shared bench images, in one run, as a ratio.
#
# Scenarios, each for every image (default: debian large):
#   oci->oci        oci:FIXTURE:latest          -> fresh oci: directory   (byte-for-byte)
#   oci->docker     oci:FIXTURE:latest          -> fresh docker-archive:   (layers decompressed)
#   docker->oci     docker-archive:FIXTURE.tar  -> fresh oci: directory   (layers compressed)
# Each tool runs $WHARF_BENCH_RUNS times per scenario (default 5), alternating wharf and skopeo so drift in
# the machine's state hits both alike. Before each run the destination is deleted and `sync` flushes earlier
# writes (untimed). Reported: median wall time, median CPU user+sys, peak RSS, and wharf/skopeo ratios.
# Needs the fixtures: ../shared/bench/make-fixtures.sh (run as root; about 2 minutes).
set -euo pipefail
source "$(dirname "$0")/lib.sh" copy

RUNS=${WHARF_BENCH_RUNS:-5}
IMAGES=("$@"); ((${#IMAGES[@]})) || IMAGES=(debian large)

command -v skopeo >/dev/null || die "skopeo is not installed (apt-get install -y skopeo)"
[[ -f $ROOT/dist/bin/wharf.js ]] || die "wharf is not built: run npm run build"
for img in "${IMAGES[@]}"; do
  [[ -d $OCI/$img && -f $ARCHIVES/$img.docker.tar ]] || die "no fixture $img: run $SHARED/bench/make-fixtures.sh"
done
mkdir -p "$OUT"
: >"$OUT/runs.tsv"

# timed TOOL SCENARIO IMAGE RUN CMD...: one timed run, appended to runs.tsv.
timed() {
  local tool=$1 scen=$2 img=$3 run=$4 wall rss user sys; shift 4
  rm -rf "$S/dest" "$S/dest.tar"; sync
  /usr/bin/time -f '%e %M %U %S' -o "$S/time" "$@" >>"$OUT/commands.log" 2>&1 || die "$tool $scen $img failed: see $OUT/commands.log"
  read -r wall rss user sys <"$S/time"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$scen" "$img" "$run" "$wall" "$rss" "$user" "$sys" >>"$OUT/runs.tsv"
  say "  $tool $scen $img run $run: ${wall}s ${rss}KB"
}

for img in "${IMAGES[@]}"; do
  say "$img: warming the page cache"
  cat "$OCI/$img"/blobs/sha256/* "$ARCHIVES/$img.docker.tar" >/dev/null
  for ((r = 1; r <= RUNS; r++)); do
    timed wharf oci-oci "$img" "$r" "${WHARF[@]}" copy -q "oci:$OCI/$img:latest" "oci:$S/dest:latest"
    timed skopeo oci-oci "$img" "$r" skopeo copy -q "oci:$OCI/$img:latest" "oci:$S/dest:latest"
    timed wharf oci-docker "$img" "$r" "${WHARF[@]}" copy -q "oci:$OCI/$img:latest" "docker-archive:$S/dest.tar:bench/$img:latest"
    timed skopeo oci-docker "$img" "$r" skopeo copy -q "oci:$OCI/$img:latest" "docker-archive:$S/dest.tar:bench/$img:latest"
    timed wharf docker-oci "$img" "$r" "${WHARF[@]}" copy -q "docker-archive:$ARCHIVES/$img.docker.tar" "oci:$S/dest:latest"
    timed skopeo docker-oci "$img" "$r" skopeo copy -q "docker-archive:$ARCHIVES/$img.docker.tar" "oci:$S/dest:latest"
  done
done

{
  echo "# wharf copy vs skopeo copy, $(date -u +%FT%TZ), $(nproc) cores, $(free -g | awk '/^Mem/ {print $2}') GiB RAM"
  echo "# $(skopeo --version); wharf $("${WHARF[@]}" --version | awk '{print $NF}'); node $(node --version); $RUNS runs each, medians"
  awk -F'\t' -f "$HERE/summarize.awk" "$OUT/runs.tsv"
} | tee "$OUT/results.txt"
