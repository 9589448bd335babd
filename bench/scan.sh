#!/usr/bin/env bash
# bench/scan.sh [IMAGE...]: `wharf scan` end to end on the shared bench images, with the time per phase
# (read layers, catalogue, match) from the report's `timings`, wall time and peak RSS (default images:
# debian large). The database is made here from two planted Debian:12 records (glibc, tar): no OSV feed can be
# downloaded on this machine, so the match phase is a floor. trivy is not in Debian: there is no ratio.
set -euo pipefail
source "$(dirname "$0")/lib.sh" scan

RUNS=${WHARF_BENCH_RUNS:-3}
IMAGES=("$@"); ((${#IMAGES[@]})) || IMAGES=(debian large)

[[ -f $ROOT/dist/bin/wharf.js ]] || die "wharf is not built: run npm run build"
for img in "${IMAGES[@]}"; do [[ -d $OCI/$img ]] || die "no fixture $img: run $SHARED/bench/make-fixtures.sh"; done
mkdir -p "$OUT" "$S/records"
record() { # ID NAME EVENTS-JSON
  printf '{"schema_version":"1.6.0","id":"%s","modified":"2026-11-01T00:00:00Z","affected":[{"package":{"ecosystem":"Debian:12","name":"%s"},"ranges":[{"type":"ECOSYSTEM","events":%s}]}]}\n' "$1" "$2" "$3" >"$S/records/$1.json"
}
record DEBIAN-CVE-2099-0001 glibc '[{"introduced":"0"},{"fixed":"2.36-9+deb12u15"}]'
record DEBIAN-CVE-2099-0008 tar '[{"introduced":"0"},{"last_affected":"1.34+dfsg-1.2+deb12u1"}]'
"${WHARF[@]}" db import --db-dir "$S/db" "$S/records" >>"$OUT/commands.log" 2>&1 || die "db import failed: see $OUT/commands.log"

printf 'image\trun\twall_s\trss_MB\tread_layers_ms\tcatalogue_ms\tmatch_ms\tpackages\tvulnerabilities\n' | tee "$OUT/results.tsv"
for img in "${IMAGES[@]}"; do
  cat "$OCI/$img"/blobs/sha256/* >/dev/null
  for ((r = 1; r <= RUNS; r++)); do
    /usr/bin/time -f '%e %M' -o "$S/time" "${WHARF[@]}" scan --format json --db-dir "$S/db" "oci:$OCI/$img:latest" >"$S/report.json" 2>>"$OUT/commands.log" || die "scan of $img failed: see $OUT/commands.log"
    read -r wall rss <"$S/time"
    node -e '
      const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      const t = r.timings;
      console.log([process.argv[2], process.argv[3], process.argv[4], Math.round(process.argv[5] / 1024), Math.round(t.readLayers), Math.round(t.catalogue), Math.round(t.match), r.packages.length, r.vulnerabilities.length].join("\t"));
    ' "$S/report.json" "$img" "$r" "$wall" "$rss" | tee -a "$OUT/results.tsv"
  done
done
say "results: $OUT/results.tsv"
