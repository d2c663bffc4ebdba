#!/bin/sh
# Run libFuzzer targets one after the other, each for SECONDS seconds:
#   tests/fuzz/run.sh SECONDS TARGET...
# Built by `make fuzz-build` (make fuzz does both).  The seeds in
# tests/fuzz/corpus/TARGET are read, never written; new inputs go to the
# working corpus tests/fuzz/obj/corpus/TARGET, crashes to
# tests/fuzz/obj/artifacts/TARGET-*.  Every target runs even when one
# fails; the exit status is 1 if any did.  Extra libFuzzer flags may be
# given in FUZZ_FLAGS.
set -u

dir=$(dirname "$0")
obj=$dir/obj
secs=${1:?usage: run.sh SECONDS TARGET...}
shift
rc=0
mkdir -p "$obj/artifacts"
for t in "$@"; do
	case $t in
	fuzz_config) maxlen=8192 dict=$dir/config.dict ;;
	fuzz_tls) maxlen=16384 dict=$dir/tls.dict ;;
	*) maxlen=49152 dict=$dir/http.dict ;;
	esac
	mkdir -p "$obj/corpus/$t"
	log=$obj/$t.log
	echo "fuzz: $t for $secs s (log: $log)"
	# shellcheck disable=SC2086
	if UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    "$obj/$t" -max_total_time="$secs" -timeout=10 -max_len="$maxlen" \
	    -dict="$dict" -artifact_prefix="$obj/artifacts/$t-" \
	    -print_final_stats=1 ${FUZZ_FLAGS:-} \
	    "$obj/corpus/$t" "$dir/corpus/$t" >"$log" 2>&1; then
		grep -E '^#[0-9]+' "$log" | tail -n 1 | sed "s/^/fuzz: $t: /"
		grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log" |
		    sed "s/^/fuzz: $t: /"
	else
		rc=1
		echo "fuzz: $t FAILED; the end of $log:"
		tail -n 60 "$log"
	fi
done
exit $rc
