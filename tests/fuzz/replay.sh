#!/usr/bin/env bash
# Replays every input of tests/fuzz/corpus/<harness>/ through its libFuzzer harness,
# once each, as TAP lines; exits non-zero if any crashed. tests/fuzz/known/<harness>/
# holds inputs of bugs reported and not yet fixed: each must still crash (so the check
# is real); once one passes, its fix landed and the input moves to corpus/.
set -uo pipefail
cd "$(dirname "$0")/../.."
fail=0
if ! make -s fuzz >build/fuzz-build.log 2>&1; then
	echo "not ok - fuzz harnesses build (clang with libFuzzer's runtime)"
	sed 's/^/# /' build/fuzz-build.log | tail -20
	exit 1
fi
echo "ok - fuzz harnesses build"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
n=0
for dir in tests/fuzz/corpus/* tests/fuzz/known/*; do
	[ -d "$dir" ] || continue
	h=$(basename "$dir")
	for input in "$dir"/*; do
		[ -f "$input" ] || continue
		n=$((n + 1))
		build/fuzz/fuzz_"$h" -timeout=20 "$input" >"$log" 2>&1
		rc=$?
		case "$dir/$rc" in
		*/corpus/*/0)
			echo "ok - fuzz $h: $input" ;;
		*/known/*/0)
			echo "not ok - fuzz $h: $input no longer crashes: move it to tests/fuzz/corpus/$h/"
			fail=1 ;;
		*/known/*)
			echo "ok - fuzz $h: $input still crashes (a known bug, docs/fuzzing.md)" ;;
		*)
			echo "not ok - fuzz $h: $input crashed (exit $rc)"
			grep -E 'fuzz invariant failed|ERROR: |SUMMARY: |^    #[0-9] ' "$log" | head -12 | sed 's/^/# /'
			fail=1 ;;
		esac
	done
done
echo "# $n inputs replayed"
exit $fail
