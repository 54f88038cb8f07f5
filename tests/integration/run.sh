#!/bin/sh
# Runs every integration test (tests/integration/test_*.py and test_*.sh)
# against the built binary in $ATOLL. Each test starts its own daemons on
# 127.0.0.1 with random ports and stops them by PID.
set -u
cd "$(dirname "$0")"
: "${ATOLL:?set ATOLL to the atoll binary}"
export ATOLL BUILD
fail=0
for t in test_*.py test_*.sh; do
	[ -e "$t" ] || continue
	case "$t" in
	*.py) cmd="python3 $t" ;;
	*) cmd="sh $t" ;;
	esac
	echo "== integration: $t"
	start=$(date +%s)
	if ! timeout 600 $cmd; then
		echo "FAILED: $t"
		fail=1
	fi
	echo "== $t took $(( $(date +%s) - start ))s"
done
exit $fail
