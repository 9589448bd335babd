#!/usr/bin/env bash
# bench/registry.sh [IMAGE...]: wharf vs skopeo against a registry on loopback (Debian's docker-registry, CNCF
# distribution 2.8, started by ../shared/bench/registry.sh), in one run, as a ratio.
#
# Scenarios per image (default: large):
#   push        oci: -> docker://127.0.0.1:PORT/bench/IMG   registry emptied (reset) before each run
#   push-noop   the same push again: every blob is already there
#   pull        docker:// -> fresh oci: directory
#   reg2reg     docker://…/bench/IMG -> docker://…/copy/IMG-N (same registry: cross-repository mounts)
#   sync20      a repository with 20 tags (one image, 20 tags) -> fresh dir (sync --src docker --dest dir)
# Each tool runs $WHARF_BENCH_RUNS times per scenario (default 3), alternating wharf and skopeo.
set -euo pipefail
source "$(dirname "$0")/lib.sh" registry

RUNS=${WHARF_BENCH_RUNS:-3}
IMAGES=("$@"); ((${#IMAGES[@]})) || IMAGES=(large)
REG=127.0.0.1:$WHARF_REGISTRY_PORT
SK=(skopeo)

[[ -f $ROOT/dist/bin/wharf.js ]] || die "wharf is not built: run npm run build"
mkdir -p "$OUT"
: >"$OUT/runs.tsv"

timed() {   # timed TOOL SCENARIO IMAGE RUN PREP CMD...
  local tool=$1 scen=$2 img=$3 run=$4 prep=$5 wall rss user sys; shift 5
  eval "$prep"; sync
  /usr/bin/time -f '%e %M %U %S' -o "$S/time" "$@" >>"$OUT/commands.log" 2>&1 || die "$tool $scen $img failed: see $OUT/commands.log"
  read -r wall rss user sys <"$S/time"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$scen" "$img" "$run" "$wall" "$rss" "$user" "$sys" >>"$OUT/runs.tsv"
  say "  $tool $scen $img run $run: ${wall}s ${rss}KB"
}
reset() { "$SHARED/bench/registry.sh" reset >>"$OUT/commands.log" 2>&1; }

"$SHARED/bench/registry.sh" start >>"$OUT/commands.log" 2>&1
for img in "${IMAGES[@]}"; do
  src=oci:$OCI/$img:latest
  cat "$OCI/$img"/blobs/sha256/* >/dev/null
  for ((r = 1; r <= RUNS; r++)); do
    for tool in wharf skopeo; do
      if [[ $tool == wharf ]]; then T=("${WHARF[@]}"); else T=("${SK[@]}"); fi
      timed $tool push "$img" "$r" reset "${T[@]}" copy -q --dest-tls-verify=false "$src" "docker://$REG/bench/$img:latest"
      timed $tool push-noop "$img" "$r" : "${T[@]}" copy -q --dest-tls-verify=false "$src" "docker://$REG/bench/$img:latest"
      timed $tool pull "$img" "$r" 'rm -rf "$S/pull"' "${T[@]}" copy -q --src-tls-verify=false "docker://$REG/bench/$img:latest" "oci:$S/pull:latest"
      timed $tool reg2reg "$img" "$r" : "${T[@]}" copy -q --src-tls-verify=false --dest-tls-verify=false "docker://$REG/bench/$img:latest" "docker://$REG/copy-$tool-$r/$img:latest"
    done
  done
done

# sync: one small image under 20 tags.
reset
for t in $(seq 1 20); do "${SK[@]}" copy -q --dest-tls-verify=false "oci:$OCI/debian:latest" "docker://$REG/bench/tags:t$t" >>"$OUT/commands.log" 2>&1; done
for ((r = 1; r <= RUNS; r++)); do
  timed wharf sync20 debian "$r" 'rm -rf "$S/sync"; mkdir -p "$S/sync"' "${WHARF[@]}" sync -q --src docker --dest dir --src-tls-verify=false "$REG/bench/tags" "$S/sync"
  timed skopeo sync20 debian "$r" 'rm -rf "$S/sync"; mkdir -p "$S/sync"' "${SK[@]}" sync --src docker --dest dir --src-tls-verify=false "$REG/bench/tags" "$S/sync"
done
"$SHARED/bench/registry.sh" stop >>"$OUT/commands.log" 2>&1

{
  echo "# wharf vs skopeo against docker-registry $(docker-registry --version | awk '{print $3}') on loopback, $(date -u +%FT%TZ), $(nproc) cores"
  echo "# $(skopeo --version); wharf $("${WHARF[@]}" --version | awk '{print $NF}'); node $(node --version); $RUNS runs each, medians"
  awk -F'\t' -f "$HERE/summarize.awk" "$OUT/runs.tsv"
} | tee "$OUT/results.txt"
