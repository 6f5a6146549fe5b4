#!/usr/bin/env bash
# The set-up path of the README's main job (./dartpass) and of the demo from a
# checkout that has never been built (no build/), in a scrubbed environment, as they
# run on a fresh machine. Each stops after the first set-up step (host packages,
# already installed by then), so it costs seconds, yet it covers what broke before:
# they must make build/ themselves and show their steps on the terminal.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
(cd "$top" && git ls-files --cached --others --exclude-standard -z | cpio -0pdm --quiet "$copy")
check() { if eval "$2"; then echo "ok - demo from a fresh copy: $1"; else echo "not ok - demo from a fresh copy: $1"; fi; }
check "the copy has no build/" '[ ! -e "$copy/build" ]'
out=$(cd "$copy" && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$HOME" \
	bash demo/run.sh --until=deps </dev/null 2>&1)
rc=$?
check "set-up runs (exit $rc)" '[ $rc = 0 ]'
check "the terminal shows the step and its end" \
	'grep -q "^== \[1/4\] host packages" <<<"$out" && grep -q "done in [0-9]*s" <<<"$out"'
check "the whole log is kept in build/" '[ -f "$copy/build/demo-setup.log" ]'
[ $rc = 0 ] || sed 's/^/# /' <<<"$out" | tail -n 20

rm -rf "$copy/build"
out=$(cd "$copy" && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$HOME" \
	./dartpass --until=deps </dev/null 2>&1)
rc=$?
check "./dartpass: set-up runs (exit $rc)" '[ $rc = 0 ]'
check "./dartpass: the terminal shows the step and its end" \
	'grep -q "^== \[1/3\] host packages" <<<"$out" && grep -q "done in [0-9]*s" <<<"$out"'
check "./dartpass: the whole log is kept in build/" '[ -f "$copy/build/setup.log" ]'
[ $rc = 0 ] || sed 's/^/# /' <<<"$out" | tail -n 20
