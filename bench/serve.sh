#!/usr/bin/env bash
# bench/serve.sh: `wharf serve` vs Debian's docker-registry (CNCF distribution 2.8) as registry servers, on the
# same machine, in one run, as ratios. The clients are the same for both: skopeo for push and pull, wrk for load.
#
# Both servers are started here, each on a free loopback port and a fresh storage folder (distribution with a
# generated config.yml: filesystem storage, delete enabled, in-memory blob descriptor cache, its logs off;
# wharf serve with --storage and -q). Per run, for each server (the order alternates run by run):
#   push         skopeo copy oci:$OCI/large:latest -> docker://HOST/bench/large:latest, the server emptied first
#                (stopped, storage deleted, started again); wall time of skopeo (/usr/bin/time)
#   pull         skopeo copy docker://HOST/bench/large:latest -> a fresh oci: directory; wall time
#   manifest     wrk -t2 -c16 on GET /v2/bench/large/manifests/latest with an OCI/Docker Accept header
#   blob-large   wrk -t2 -c16 on GET of the largest layer of `large` (160 MiB): MB/s and requests/s
#   blob-small   wrk -t2 -c16 on GET of the image's config blob (1.4 KB): requests/s
# Each load runs a 2 s warm-up first (untimed, identical for both), then $WHARF_BENCH_WRK_DURATION (default 10s)
# timed. While wrk runs, the server's VmRSS is sampled every 0.2 s (rss-SERVER-SCENARIO-RUN.txt: the peak, and the
# growth: the highest sample of the timed load's second half minus its first half's; "flat" is growth <= 16 MiB in
# every run), and read before and after the load. The server's CPU time (utime + stime, /proc/PID/stat) is recorded
# for every scenario, as are wrk's CPU time and skopeo's (wall, CPU, peak RSS from /usr/bin/time).
# wrk and the server share the machine's cores (2 here): the load generator takes CPU from the server.
#
#   WHARF_BENCH_RUNS          runs per scenario and server (default 3)
#   WHARF_BENCH_WRK_DURATION  timed length of each load (default 10s)
#   WHARF_BENCH_DIST_LOG      quiet (default: distribution's access log off, level error, as wharf's -q) or info
#                             (registry:2's default config: an access log line and an info line per request)
#   WHARF_BENCH_IMAGE         fixture to push, pull and load (default large)
#   WHARF_BENCH_WHARF_JS      the wharf CLI to serve with (default: this tree's dist/bin/wharf.js), e.g. a patched
#                             copy of dist/ elsewhere, to measure a change against the same distribution run
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${WHARF_SHARED:-$ROOT/../shared}
source "$SHARED/bench/common.sh"

RUNS=${WHARF_BENCH_RUNS:-3}
DURATION=${WHARF_BENCH_WRK_DURATION:-10s}
DIST_LOG=${WHARF_BENCH_DIST_LOG:-quiet}
IMG=${WHARF_BENCH_IMAGE:-large}
WHARF_JS=${WHARF_BENCH_WHARF_JS:-$ROOT/dist/bin/wharf.js}
THREADS=2 CONNS=16
OUT=${WHARF_BENCH_OUT:-$ROOT/bench/results/serve-$(date +%Y%m%dT%H%M%S)}
S=$(mktemp -d "${TMPDIR:-/tmp}/wharf-bench-serve.XXXXXX")
ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json'
SERVERS=(distribution wharf)
declare -A PORT PID

[[ -f $WHARF_JS ]] || die "wharf is not built ($WHARF_JS): run npm run build"
[[ -d $OCI/$IMG ]] || die "no fixture $OCI/$IMG: run ../shared/bench/make-fixtures.sh"
for t in docker-registry skopeo wrk curl jq /usr/bin/time; do command -v "$t" >/dev/null || die "$t is missing (apt-get install -y ${t##*/})"; done
[[ $DIST_LOG == quiet || $DIST_LOG == info ]] || die "WHARF_BENCH_DIST_LOG is quiet or info, not $DIST_LOG"
mkdir -p "$OUT"
: >"$OUT/runs.tsv"
: >"$OUT/commands.log"

cleanup() {
  local s
  for s in "${SERVERS[@]}"; do stop_server "$s" || true; done
  rm -rf "$S"
}
trap cleanup EXIT

logcmd() { printf '$ %s\n' "$*" >>"$OUT/commands.log"; }
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$OUT/runs.tsv"; }   # server scenario run metric value

# Two free loopback ports, told by the kernel (bound to port 0, then released).
read -r PORT[distribution] PORT[wharf] < <(node -e '
  const net = require("net"); const ports = [];
  const next = () => { const s = net.createServer().listen(0, "127.0.0.1", () => { ports.push(s.address().port);
    s.close(() => (ports.length < 2 ? next() : console.log(ports.join(" ")))); }); };
  next();')
[[ ${PORT[distribution]} != "${PORT[wharf]}" ]] || die "could not find two free ports"

rss_kb() { local k v _; while read -r k v _; do [[ $k == VmRSS: ]] && { echo "$v"; return; }; done <"/proc/$1/status"; echo 0; }
cpu_ticks() { local f; f=$(<"/proc/$1/stat"); f=${f##*) }; awk '{print $12 + $13}' <<<"$f"; }   # utime + stime
TICK=$(getconf CLK_TCK)

write_dist_config() {   # the shared registry.sh's config (registry:2's default), on our port and storage
  local log
  if [[ $DIST_LOG == quiet ]]; then log='  accesslog: {disabled: true}
  level: error'; else log='  level: info'; fi
  cat >"$S/distribution.yml" <<EOF
version: 0.1
log:
$log
  fields: {service: registry}
storage:
  filesystem: {rootdirectory: $S/distribution-data}
  delete: {enabled: true}
  cache: {blobdescriptor: inmemory}
http:
  addr: 127.0.0.1:${PORT[distribution]}
  headers: {X-Content-Type-Options: [nosniff]}
EOF
}

start_server() {   # start_server NAME: on a fresh (empty) storage folder
  local s=$1 i
  rm -rf "$S/$s-data"; mkdir -p "$S/$s-data"
  if [[ $s == distribution ]]; then
    write_dist_config
    logcmd docker-registry serve "$S/distribution.yml"
    docker-registry serve "$S/distribution.yml" >>"$OUT/distribution.log" 2>&1 </dev/null &
  else
    logcmd node "$WHARF_JS" serve --listen "127.0.0.1:${PORT[wharf]}" --storage "$S/wharf-data" -q
    node "$WHARF_JS" serve --listen "127.0.0.1:${PORT[wharf]}" --storage "$S/wharf-data" -q >>"$OUT/wharf.log" 2>&1 </dev/null &
  fi
  PID[$s]=$!
  for ((i = 0; i < 100; i++)); do
    curl -sf -o /dev/null "http://127.0.0.1:${PORT[$s]}/v2/" && return 0
    kill -0 "${PID[$s]}" 2>/dev/null || die "$s exited at start: see $OUT/$s.log"
    sleep 0.1
  done
  die "$s not answering on 127.0.0.1:${PORT[$s]} after 10 s"
}

stop_server() {
  local s=$1 pid=${PID[$1]:-} i
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  PID[$s]=
}

# skopeo_timed SERVER SCENARIO RUN PREP ARGS...: wall time, CPU and peak RSS of skopeo; the server's CPU meanwhile.
skopeo_timed() {
  local s=$1 scen=$2 run=$3 prep=$4 wall rss user sys c0 c1; shift 4
  eval "$prep"; sync
  logcmd skopeo "$@"
  c0=$(cpu_ticks "${PID[$s]}")
  /usr/bin/time -f '%e %M %U %S' -o "$S/time" skopeo "$@" >>"$OUT/commands.log" 2>&1 || die "$s $scen failed: see $OUT/commands.log"
  c1=$(cpu_ticks "${PID[$s]}")
  read -r wall rss user sys <"$S/time"
  record "$s" "$scen" "$run" wall_s "$wall"
  record "$s" "$scen" "$run" client_cpu_s "$(awk -v u="$user" -v y="$sys" 'BEGIN {print u + y}')"
  record "$s" "$scen" "$run" client_rss_kb "$rss"
  record "$s" "$scen" "$run" server_cpu_s "$(awk -v a="$c0" -v b="$c1" -v t="$TICK" 'BEGIN {print (b - a) / t}')"
  record "$s" "$scen" "$run" server_rss_kb "$(rss_kb "${PID[$s]}")"
  say "  $s $scen run $run: ${wall}s (skopeo CPU $(awk -v u="$user" -v y="$sys" 'BEGIN {print u + y}')s)"
}

# load SERVER SCENARIO RUN PATH [HEADER]: wrk warm-up (2 s), then the timed load, sampling the server's RSS.
load() {
  local s=$1 scen=$2 run=$3 path=$4 hdr=${5:-} url pid before peak after c0 c1 sampler wrkargs=()
  url="http://127.0.0.1:${PORT[$s]}$path"
  pid=${PID[$s]}
  wrkargs=(-t"$THREADS" -c"$CONNS" --latency --timeout 60s)
  [[ -n $hdr ]] && wrkargs+=(-H "$hdr")
  before=$(rss_kb "$pid")
  rm -f "$S/timed"
  # One VmRSS sample (KB) a line every 0.2 s; lines of the timed load are marked "t" (the warm-up's are "w").
  ( while kill -0 "$pid" 2>/dev/null; do
      if [[ -e $S/timed ]]; then echo "t $(rss_kb "$pid")"; else echo "w $(rss_kb "$pid")"; fi
      sleep 0.2
    done ) >"$S/rss" &
  sampler=$!
  logcmd wrk "${wrkargs[@]}" -d2s "$url" "(warm-up)"
  wrk "${wrkargs[@]}" -d2s "$url" >/dev/null 2>&1 || die "wrk warm-up against $s failed"
  : >"$S/timed"
  c0=$(cpu_ticks "$pid")
  logcmd wrk "${wrkargs[@]}" -d"$DURATION" "$url"
  /usr/bin/time -f '%U %S' -o "$S/wrktime" wrk "${wrkargs[@]}" -d"$DURATION" "$url" >"$S/wrk" 2>&1 || { cat "$S/wrk" >>"$OUT/commands.log"; die "wrk against $s failed"; }
  c1=$(cpu_ticks "$pid")
  sleep 0.5
  after=$(rss_kb "$pid")
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
  cat "$S/wrk" >>"$OUT/commands.log"
  cp "$S/rss" "$OUT/rss-$s-$scen-$run.txt"
  peak=$(awk '$2 > m {m = $2} END {print m + 0}' "$S/rss")
  ((peak >= after && peak >= before)) || peak=$((after > before ? after : before))
  # Flat under load: the highest RSS in the second half of the timed load against the first half's.
  record "$s" "$scen" "$run" rss_growth_kb "$(awk '$1 == "t" {v[++n] = $2}
    END {for (i = 1; i <= n; i++) if (i <= n / 2) {if (v[i] > a) a = v[i]} else if (v[i] > b) b = v[i]; print b - a}' "$S/rss")"
  # wrk prints binary units (1 MB = 2^20 bytes); MB/s below are decimal (10^6 bytes), latencies in ms.
  awk -v s="$s" -v scen="$scen" -v run="$run" '
    function bytes(x,   n, u) { n = x + 0; u = x; sub(/^[0-9.]+/, "", u)
      return n * (u == "KB" ? 1024 : u == "MB" ? 1048576 : u == "GB" ? 1073741824 : u == "TB" ? 1099511627776 : 1) }
    function ms(x,   n, u) { n = x + 0; u = x; sub(/^[0-9.]+/, "", u); return n * (u == "us" ? 0.001 : u == "s" ? 1000 : u == "m" ? 60000 : 1) }
    function out(m, v) { printf "%s\t%s\t%s\t%s\t%s\n", s, scen, run, m, v }
    /^Requests\/sec:/ { out("req_s", $2) }
    /^Transfer\/sec:/ { out("mb_s", bytes($2) / 1e6) }
    $1 == "50%" { out("p50_ms", ms($2)) }
    $1 == "99%" { out("p99_ms", ms($2)) }
    /requests in/ { out("requests", $1) }
    /Non-2xx or 3xx responses/ { bad += $NF }
    /Socket errors/ { gsub(/,/, ""); bad += $4 + $6 + $8 + $10 }
    END { out("errors", bad + 0) }' "$S/wrk" >>"$OUT/runs.tsv"
  record "$s" "$scen" "$run" server_cpu_s "$(awk -v a="$c0" -v b="$c1" -v t="$TICK" 'BEGIN {print (b - a) / t}')"
  record "$s" "$scen" "$run" wrk_cpu_s "$(awk '{print $1 + $2}' "$S/wrktime")"
  record "$s" "$scen" "$run" rss_before_kb "$before"
  record "$s" "$scen" "$run" rss_peak_kb "$peak"
  record "$s" "$scen" "$run" rss_after_kb "$after"
  say "  $s $scen run $run: $(awk '/^Requests\/sec:|^Transfer\/sec:/ {printf "%s %s  ", $1, $2}' "$S/wrk")RSS $((before / 1024))/$((peak / 1024))/$((after / 1024)) MB"
}

src=oci:$OCI/$IMG:latest
manifest_digest=$(jq -r '.manifests[0].digest' "$OCI/$IMG/index.json")
manifest=$OCI/$IMG/blobs/sha256/${manifest_digest#sha256:}
big=$(jq -r '.layers | max_by(.size) | .digest' "$manifest")
config=$(jq -r '.config.digest' "$manifest")
say "serve bench: $IMG, distribution on :${PORT[distribution]}, wharf on :${PORT[wharf]}, $RUNS runs, largest layer $big ($(jq -r '.layers | max_by(.size) | .size' "$manifest") bytes)"

for ((r = 1; r <= RUNS; r++)); do
  order=("${SERVERS[@]}"); ((r % 2)) || order=(wharf distribution)
  for s in "${order[@]}"; do
    host=127.0.0.1:${PORT[$s]}
    stop_server "$s"; start_server "$s"   # an empty registry
    record "$s" idle "$r" server_rss_kb "$(rss_kb "${PID[$s]}")"
    cat "$OCI/$IMG"/blobs/sha256/* >/dev/null   # the source in the page cache, as for every push
    skopeo_timed "$s" push "$r" : copy -q --dest-tls-verify=false "$src" "docker://$host/bench/$IMG:latest"
    skopeo_timed "$s" pull "$r" 'rm -rf "$S/pull"' copy -q --src-tls-verify=false "docker://$host/bench/$IMG:latest" "oci:$S/pull:latest"
    got=$(curl -sf -H "$ACCEPT" "http://$host/v2/bench/$IMG/manifests/latest" | sha256sum | cut -d' ' -f1)
    [[ sha256:$got == "$manifest_digest" ]] || die "$s does not serve the pushed manifest $manifest_digest (got sha256:$got)"
    load "$s" manifest "$r" "/v2/bench/$IMG/manifests/latest" "$ACCEPT"
    load "$s" blob-large "$r" "/v2/bench/$IMG/blobs/$big"
    load "$s" blob-small "$r" "/v2/bench/$IMG/blobs/$config"
    stop_server "$s"
  done
done
rm -rf "$S/pull"

summarize() {   # runs.tsv -> per scenario: median of each metric per server, ratio wharf/distribution, goal, met
  awk -F'\t' -v FLAT_MB=16 '
    function med(a, n,   x, y, t) {
      for (x = 2; x <= n; x++) for (y = x; y > 1 && a[y - 1] > a[y]; y--) { t = a[y]; a[y] = a[y - 1]; a[y - 1] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function median(srv, k,   j, a) { delete a; for (j = 1; j <= n[srv, k]; j++) a[j] = v[srv, k, j]; return n[srv, k] ? med(a, n[srv, k]) : "" }
    function maxof(srv, k,   j, m) { m = 0; for (j = 1; j <= n[srv, k]; j++) if (v[srv, k, j] > m) m = v[srv, k, j]; return m }
    function row(scen, metric, label, goal, kind,   k, d, w, ratio, met) {
      k = scen SUBSEP metric
      if (!((("distribution", k) in n) || (("wharf", k) in n))) return
      if (kind == "max") { d = maxof("distribution", k); w = maxof("wharf", k) } else { d = median("distribution", k); w = median("wharf", k) }
      if (metric ~ /_kb$/) { d /= 1024; w /= 1024 }
      ratio = d > 0 ? w / d : 0
      met = ""
      if (goal ~ /^>=/) { met = ratio >= substr(goal, 4) + 0 ? "yes" : "NO" }
      if (goal ~ /^<=/) { met = ratio <= substr(goal, 4) + 0 ? "yes" : "NO" }
      if (goal == "flat") { met = w <= FLAT_MB ? "yes" : "NO"; ratio = 0 }   # wharf alone: growth (max of runs) within FLAT_MB
      printf "%-11s %-24s %12.2f %12.2f %7.2f  %-7s %s\n", scen, label, d, w, ratio, goal, met
    }
    { k = $2 SUBSEP $4; n[$1, k]++; v[$1, k, n[$1, k]] = $5 }
    END {
      printf "%-11s %-24s %12s %12s %7s  %-7s %s\n", "scenario", "metric (median)", "distribution", "wharf", "w/d", "goal", "met"
      row("push", "wall_s", "wall s", "<= 1.0"); row("push", "server_cpu_s", "server CPU s"); row("push", "client_cpu_s", "skopeo CPU s")
      row("pull", "wall_s", "wall s", "<= 1.0"); row("pull", "server_cpu_s", "server CPU s"); row("pull", "client_cpu_s", "skopeo CPU s")
      row("manifest", "req_s", "requests/s", ">= 1.2"); row("manifest", "p50_ms", "latency p50 ms"); row("manifest", "p99_ms", "latency p99 ms")
      row("manifest", "server_cpu_s", "server CPU s"); row("manifest", "wrk_cpu_s", "wrk CPU s")
      row("blob-large", "mb_s", "MB/s (10^6 B)", ">= 1.0"); row("blob-large", "req_s", "requests/s"); row("blob-large", "p50_ms", "latency p50 ms")
      row("blob-large", "server_cpu_s", "server CPU s"); row("blob-large", "wrk_cpu_s", "wrk CPU s")
      row("blob-small", "req_s", "requests/s"); row("blob-small", "p50_ms", "latency p50 ms"); row("blob-small", "p99_ms", "latency p99 ms")
      row("blob-small", "server_cpu_s", "server CPU s"); row("blob-small", "wrk_cpu_s", "wrk CPU s")
      row("idle", "server_rss_kb", "RSS MB, empty")
      row("pull", "server_rss_kb", "RSS MB, after push+pull")
      for (i = 1; i <= 3; i++) {
        sc = i == 1 ? "manifest" : i == 2 ? "blob-large" : "blob-small"
        row(sc, "rss_before_kb", "RSS MB before load"); row(sc, "rss_peak_kb", "RSS MB peak (max of runs)", "", "max"); row(sc, "rss_after_kb", "RSS MB after load")
        row(sc, "rss_growth_kb", "RSS MB growth 2nd half", "flat", "max")
      }
      for (s = 1; s <= 2; s++) {
        srv = s == 1 ? "distribution" : "wharf"; bad = 0
        for (x in n) { split(x, p, SUBSEP); if (p[1] == srv && p[3] == "errors") for (j = 1; j <= n[x]; j++) bad += v[x, j] }
        if (bad) printf "WARNING: %s answered %d wrk requests with errors (non-2xx or socket errors)\n", srv, bad
      }
    }' "$OUT/runs.tsv"
}

{
  echo "# wharf serve vs docker-registry $(docker-registry --version | awk '{print $3}') on loopback, $(date -u +%FT%TZ), $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "# $(skopeo --version); $(wrk --version 2>&1 | head -1 | awk '{print "wrk", $2}'); wharf $(node "$WHARF_JS" --version | awk '{print $NF}') ($WHARF_JS); node $(node --version); kernel $(uname -r)"
  echo "# image $IMG; wrk -t$THREADS -c$CONNS -d$DURATION after a 2 s warm-up; wrk shares the $(nproc) cores with the server; distribution logs: $DIST_LOG; $RUNS runs each, medians"
  echo "# w/d = wharf / distribution: throughput goals want >= (higher is better), time goals <= (lower is better)"
  summarize
} | tee "$OUT/results.txt"
