#!/usr/bin/env bash
# The answer to HEAD is a head alone, also when hourglass writes it itself
# (502, 504): no body bytes may follow, or the next pipelined response
# would be corrupt.  Found by fuzz_response.
source "$(dirname "$0")/../proxy_lib.sh"

origin_up || finish
hg_up "$T/hg.ini" '[route /hang]' 'upstream = o' 'upstream_header = 200ms' ||
    finish

# head_then_get PATH: HEAD PATH and GET / pipelined on one connection.
head_then_get() {
	raw_open
	printf 'HEAD %s HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n' \
	    "$1" >&3
	raw_wait_eof "$T/out" 3
	raw_close
}

for p in /reset /hang; do
	d="HEAD $p"
	head_then_get "$p"
	first=$(status_line "$T/out")
	expect_match "$d: the error head" "$first" '^HTTP/1\.1 50[24] '
	# hourglass closes after its own error answer: nothing may follow the
	# head (no body, and the pipelined GET is not answered on this one).
	bytes=$(wc -c < "$T/out")
	head=$(awk 'BEGIN { RS = "\r\n\r\n" } NR == 1 { print length($0) + 4 }' "$T/out")
	expect_eq "$d: no body after the head" "$bytes" "$head"
done
log_take "HEAD errors" 2
fd_settle "HEAD errors"
finish
