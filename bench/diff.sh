#!/usr/bin/env bash
# bench/diff.sh [BASE DERIVED]: `wharf diff` of two images vs the way to answer it without wharf — unpack both
# with `umoci unpack --rootless` and run `diff -r --no-dereference` on the two root filesystems — in one run, as
# a ratio (issue #5's goal: wharf <= 0.2x). Default images: debian debian-app (the shared bench fixtures).
# Each side runs $WHARF_BENCH_RUNS times (default 3), alternating; before each run the scratch folder is emptied
# and `sync` flushes earlier writes (untimed). Reported: median wall time, median CPU user+sys, peak RSS.
# Both answers are compared once first (the set of differing paths; wharf with --ignore mode,uid,gid,time, since
# diff -r looks at types, contents and link targets only): a fast wrong answer is no answer.
# Needs the fixtures: ../shared/bench/make-fixtures.sh (run as root; about 2 minutes).
set -euo pipefail
source "$(dirname "$0")/lib.sh" diff

RUNS=${WHARF_BENCH_RUNS:-3}
A=${1:-debian}
B=${2:-debian-app}

command -v umoci >/dev/null || die "umoci is not installed (apt-get install -y umoci)"
[[ -f $ROOT/dist/bin/wharf.js ]] || die "wharf is not built: run npm run build"
for img in "$A" "$B"; do [[ -d $OCI/$img ]] || die "no fixture $img: run $SHARED/bench/make-fixtures.sh"; done
mkdir -p "$OUT"
: >"$OUT/runs.tsv"

# The yardstick, as one command: unpack both, diff -r (exit 1 means "they differ": not a failure). With an
# argument (-q), diff says only which paths differ, for the answer check.
yardstick() {
  umoci unpack --rootless --image "$OCI/$A:latest" "$S/a" >/dev/null
  umoci unpack --rootless --image "$OCI/$B:latest" "$S/b" >/dev/null
  local rc=0
  diff -r ${1:-} --no-dereference "$S/a/rootfs" "$S/b/rootfs" >"$S/diff.out" 2>&1 || rc=$?
  ((rc <= 1))
}
export -f yardstick
export A B OCI S

timed() {
  local tool=$1 scen=$2 img=$3 run=$4 wall rss user sys; shift 4
  rm -rf "$S/a" "$S/b" "$S/wharf.out"; sync
  /usr/bin/time -f '%e %M %U %S' -o "$S/time" "$@" >>"$OUT/commands.log" 2>&1 || die "$tool $scen $img failed: see $OUT/commands.log"
  read -r wall rss user sys <"$S/time"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$scen" "$img" "$run" "$wall" "$rss" "$user" "$sys" >>"$OUT/runs.tsv"
  say "  $tool $scen $img run $run: ${wall}s ${rss}KB"
}

say "$A vs $B: warming the page cache, checking that both answers agree"
cat "$OCI/$A"/blobs/sha256/* "$OCI/$B"/blobs/sha256/* >/dev/null
"${WHARF[@]}" diff --json --ignore mode,uid,gid,time "oci:$OCI/$A:latest" "oci:$OCI/$B:latest" >"$S/wharf.json"
# wharf lists a directory that is only on one side with everything below it; diff -r names only the directory.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const top = (list) => { const s = new Set(list); return list.filter((p) => { for (let q = p.slice(0, p.lastIndexOf("/")); q; q = q.slice(0, q.lastIndexOf("/"))) if (s.has(q)) return false; return true; }); };
  for (const p of [...top(r.onlyInA), ...top(r.onlyInB), ...r.different.map((d) => d.path)]) console.log(p);
' "$S/wharf.json" | LC_ALL=C sort >"$OUT/wharf-paths.txt"
yardstick -q
sed -E -e "s#^Only in $S/[ab]/rootfs/?([^:]*): (.*)\$#/\\1/\\2#" -e 's#^/+#/#' \
  -e "s#^Files $S/a/rootfs(/[^ ]*) and .* differ\$#\\1#" \
  -e "s#^Symbolic links $S/a/rootfs(/[^ ]*) and .* differ\$#\\1#" \
  -e "s#^File $S/a/rootfs(/[^ ]*) is a .* while file .*\$#\\1#" "$S/diff.out" | sed -e 's#//#/#g' | LC_ALL=C sort >"$OUT/diff-r-paths.txt"
diff "$OUT/wharf-paths.txt" "$OUT/diff-r-paths.txt" >"$OUT/answers-diff.txt" || die "wharf diff and umoci + diff -r disagree: see $OUT/answers-diff.txt"
say "  both say the same $(wc -l <"$OUT/wharf-paths.txt") paths differ"
rm -rf "$S/a" "$S/b"

for ((r = 1; r <= RUNS; r++)); do
  timed wharf diff "$B" "$r" "${WHARF[@]}" diff "oci:$OCI/$A:latest" "oci:$OCI/$B:latest"
  timed umoci diff "$B" "$r" bash -c yardstick
done

{
  echo "# wharf diff vs umoci unpack --rootless x2 + diff -r --no-dereference, $(date -u +%FT%TZ), $(nproc) cores, $(free -g | awk '/^Mem/ {print $2}') GiB RAM"
  echo "# $(umoci --version); $(diff --version | head -1); wharf $("${WHARF[@]}" --version | awk '{print $NF}'); node $(node --version); $RUNS runs each, medians; same answer checked"
  awk -F'\t' -v other=umoci -f "$HERE/summarize.awk" "$OUT/runs.tsv"
} | tee "$OUT/results.txt"
