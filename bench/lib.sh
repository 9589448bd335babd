# bench/lib.sh NAME: the set-up every bench script shares; source it, don't run it:
#   source "$(dirname "$0")/lib.sh" copy
# Sets HERE (bench/), ROOT (the checkout), SHARED (../shared, or $WHARF_SHARED) and sources its common.sh;
# OUT (results folder, $WHARF_BENCH_OUT or bench/results/NAME-TIMESTAMP), S (a scratch folder removed on exit)
# and WHARF (the command that runs the built bin).
# shellcheck disable=SC2034  # the variables are for the scripts that source this
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${WHARF_SHARED:-$ROOT/../shared}
source "$SHARED/bench/common.sh"
OUT=${WHARF_BENCH_OUT:-$ROOT/bench/results/$1-$(date +%Y%m%dT%H%M%S)}
S=$(mktemp -d "${TMPDIR:-/tmp}/wharf-bench.XXXXXX")
trap 'rm -rf "$S"' EXIT
WHARF=(node "$ROOT/dist/bin/wharf.js")
