# bench/lib.sh: shell helpers that bench/run.sh and bench/instr.sh share.
# Sourced (bash).  The caller defines say() and die() and, for render(),
# OPORT (the origin's port).

# alive PID: running and not a zombie.
alive() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[ "${s%% *}" != Z ]
}

# stop_pid PID [SECS]: SIGTERM, then SIGKILL after SECS (5) seconds; reap
# it if it is our child.  Returns 1 if it had to be killed.
stop_pid() {
	local p=$1 i rc=0
	alive "$p" || { wait "$p" 2>/dev/null; return 0; }
	kill -TERM "$p" 2>/dev/null
	for i in $(seq $((${2:-5} * 10))); do
		alive "$p" || break
		sleep 0.1
	done
	if alive "$p"; then
		kill -KILL "$p" 2>/dev/null
		rc=1
	fi
	wait "$p" 2>/dev/null
	return $rc
}

# wait_file FILE: up to 5 s for FILE to be non-empty.
wait_file() {
	local i
	for i in $(seq 100); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# pick_port: a loopback port from the ephemeral range that no TCP socket
# uses right now.
pick_port() {
	local lo hi p used i
	read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range
	used=" $(awk 'FNR > 1 { split($2, a, ":"); printf "%s ", a[2] }' \
	    /proc/net/tcp /proc/net/tcp6 2>/dev/null) "
	for i in $(seq 200); do
		p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
		[[ $used == *" $(printf '%04X' "$p") "* ]] || { echo "$p"; return 0; }
	done
	return 1
}

# listening PORT: some socket listens on 127.0.0.1:PORT.
listening() {
	awk -v p="$(printf '0100007F:%04X' "$1")" \
	    'FNR > 1 && $2 == p && $4 == "0A" { f = 1 } END { exit !f }' /proc/net/tcp
}

# render TEMPLATE OUT PORT UPSTREAM_HEADER NGINX_DIR ERRLOG: a
# configuration from bench/conf/TEMPLATE, in front of the origin at $OPORT.
render() {
	sed -e "s|@PORT@|$3|g" -e "s|@ORIGIN_PORT@|$OPORT|g" \
	    -e "s|@UPSTREAM_HEADER@|$4|g" -e "s|@RUN@|$5|g" -e "s|@ERRLOG@|$6|g" \
	    "bench/conf/$1" > "$2"
}
