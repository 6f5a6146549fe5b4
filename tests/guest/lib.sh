# Helpers for guest test scripts; sourced in the guest's busybox shell.
# dp_check NAME CMD [ARGS...]: runs CMD and reports one check; output is shown on failure.
dp_check() {
	_name=$1
	shift
	if _out=$("$@" 2>&1); then
		echo "DP-TEST ok $_name"
	else
		echo "$_out" | tail -n 20 | sed 's/^/    /'
		echo "DP-TEST not ok $_name"
	fi
}
