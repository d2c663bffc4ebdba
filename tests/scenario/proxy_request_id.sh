#!/usr/bin/env bash
# Request ids.  Each request has one id, in its access-log line, in the
# error log's lines about it, and sent upstream as X-Request-Id: the
# client's own X-Request-Id when it is well-formed (1 to 64 letters,
# digits and "-_.:+/="), else ours, 16 hex digits.  Ours never repeat:
# across the workers of one run (the worker is in the top byte) nor across
# restarts (a random start).  About 3 s.
source "$(dirname "$0")/../proxy_lib.sh"

origin_up || finish
hg_config "$T/hg.ini" 'upstream_header = 300ms'
sed -i 's/^workers = 1$/workers = 2/' "$T/hg.ini"
start_hourglass "$T/hg.ini" || finish
U=http://127.0.0.1:$HG_PORT

# echoed NAME: the value(s) of header NAME in the last /echo body.
echoed() { tr -d '\r' < "$T/body" | sed -n "s/^$1: //Ip"; }

note "a well-formed X-Request-Id is kept"
hg_curl -H 'X-Request-Id: 7f3e-Ab_9.1:2+3/4' "$U/echo/kept"
expect_eq "kept: forwarded as sent, once" "$(echoed X-Request-Id)" "7f3e-Ab_9.1:2+3/4"
log_take "kept" 1
expect_eq "kept: logged as the id" "$(lf id "$LOG1")" "7f3e-Ab_9.1:2+3/4"

note "one that is not is replaced by ours"
for bad in 'a b' "$(printf 'x%.0s' $(seq 65))" 'a"b' 'caf\xc3\xa9' ''; do
	hg_curl -H "X-Request-Id: $(printf "$bad")" "$U/echo/replaced"
	sent=$(echoed X-Request-Id)
	expect_match "replaced [$bad]: ours is sent, one field" "$sent" '^[0-9a-f]{16}$'
	log_take "replaced [$bad]" 1
	expect_eq "replaced [$bad]: and logged" "$(lf id "$LOG1")" "$sent"
done
hg_curl -H 'X-Request-Id: one' -H 'X-Request-Id: two' "$U/echo/two"
expect_match "two X-Request-Id fields: ours instead" "$(echoed X-Request-Id)" '^[0-9a-f]{16}$'
log_take "two fields" 1

note "the error log speaks of a request by the same id"
hg_curl -H 'X-Request-Id: slow-one' "$U/hang"
expect_eq "slow-one: 504" "$CODE" 504
log_take "slow-one" 1
expect_eq "slow-one: logged id" "$(lf id "$LOG1")" slow-one
check "slow-one: the error log names it" grep -q 'req slow-one: timeout:upstream_header' "$HG_ERR"

note "ours never repeat across workers"
for i in $(seq 60); do
	curl -s -m 5 -o /dev/null "$U/?w$i"
done
log_take "60 connections" 60
ids=$(printf '%s\n' "$LOG_NEW" | sed -n 's/.* id=\([^ ]*\) .*/\1/p')
expect_eq "60 ids" "$(printf '%s\n' "$ids" | grep -cE '^[0-9a-f]{16}$')" 60
expect_eq "no id twice" "$(printf '%s\n' "$ids" | sort | uniq -d | wc -l)" 0
tops=$(printf '%s\n' "$ids" | cut -c1-2 | sort -u | tr '\n' ' ')
note "top bytes seen: $tops"
expect_match "each worker's ids carry its number in the top byte" "$tops" '^(00 01 |00 |01 )$'
first_run=$(printf '%s\n' "$ids" | head -n 1)
stop_pid "$HG_PID"

note "nor across restarts"
start_hourglass "$T/hg.ini" || finish
U=http://127.0.0.1:$HG_PORT
LOG_SEEN=$(wc -l < "$ACCESS")
curl -s -m 5 -o /dev/null "$U/?again"
log_take "after a restart" 1
second=$(lf id "$LOG1")
if [ "${second:2}" != "${first_run:2}" ] &&
    [ "$(printf '%s\n' "$ids" | grep -c "^$second\$")" = 0 ]; then
	ok "after a restart: a new id ($second, first run began at $first_run)"
else
	fail "after a restart: id $second was used in the first run"
fi
finish
