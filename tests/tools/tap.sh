# TAP lines for the host-side tests (sourced): ok WHAT, nok WHAT (counted in fails),
# check WHAT CMD...: ok when CMD succeeds.
fails=0
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else nok "$what"; fi; }
