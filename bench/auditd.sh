#!/usr/bin/env bash
# auditd beside tripline: the same load as cmd/loadgen (N distinct files in etc/cron.daily of a
# fixture root, each chmod'ed once at RATE per second by one process), recorded by auditd with a
# watch on that directory (auditctl -w DIR -p wa). Prints the CPU seconds per 100,000 events of
# auditd and of the kernel's kauditd thread, and how many events auditd logged.
#
# Usage: bench/auditd.sh [OUTDIR] (as root; apt-get install auditd)
#
# auditd runs in the foreground from a copy of /etc/audit/auditd.conf whose log goes to
# OUTDIR/audit/audit.log; the host's audit state (enabled or not) is put back at the end, and the
# watch removed. Environment: N (default 100000), RATE (default 10000; 0 = as fast as possible),
# RUNS (default 3).
set -euo pipefail

out=${1:-bench/out}
n=${N:-100000}
rate=${RATE:-10000}
runs=${RUNS:-3}
mkdir -p "$out/audit"
out=$(cd "$out" && pwd)
dir="$out/audit-load/root/etc/cron.daily"
key=tripline-bench

command -v auditd >/dev/null && command -v auditctl >/dev/null || { echo "needs auditd (apt-get install auditd)" >&2; exit 2; }
was_enabled=$(auditctl -s | awk '$1=="enabled"{print $2}')
sed -e "s|^log_file *=.*|log_file = $out/audit/audit.log|" -e "s|^max_log_file_action *=.*|max_log_file_action = ignore|" \
	-e "s|^space_left_action *=.*|space_left_action = ignore|" -e "s|^admin_space_left_action *=.*|admin_space_left_action = ignore|" \
	-e "s|^disk_full_action *=.*|disk_full_action = ignore|" -e "s|^flush *=.*|flush = incremental_async|" \
	/etc/audit/auditd.conf >"$out/audit/auditd.conf"
chmod 0640 "$out/audit/auditd.conf"
apid=
cleanup() {
	auditctl -W "$dir" -p wa -k "$key" >/dev/null 2>&1 || true
	[[ -z "$apid" ]] || { kill "$apid" 2>/dev/null; wait "$apid" 2>/dev/null || true; }
	auditctl -e "${was_enabled:-0}" >/dev/null 2>&1 || true
}
trap cleanup EXIT

cpu() { awk '{print $14+$15}' "/proc/$1/stat"; } # clock ticks (USER_HZ)
hz=$(getconf CLK_TCK)
kauditd=$(pgrep -x kauditd || true)
[[ -n "$kauditd" ]] || echo "no kauditd thread: its CPU is not counted" >&2

for i in $(seq "$runs"); do
	rm -rf "$out/audit-load" "$out/audit/audit.log"
	mkdir -p "$dir"
	python3 - "$dir" "$n" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, "job%07d" % i), "w") as f:
        f.write("#!/bin/sh\n")
EOF
	auditd -n -c "$out/audit" &
	apid=$!
	for _ in $(seq 50); do auditctl -s | grep -q "pid $apid" && break; sleep 0.1; done
	auditctl -e 1 >/dev/null
	auditctl -w "$dir" -p wa -k "$key" >/dev/null
	sleep 1
	a0=$(cpu "$apid") k0=0
	[[ -z "$kauditd" ]] || k0=$(cpu "$kauditd")
	load=$(cut -d' ' -f1 /proc/loadavg)
	python3 - "$dir" "$n" "$rate" <<'EOF'
import os, sys, time
d, n, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
start = time.monotonic()
for i in range(n):
    if rate:
        wait = start + i / rate - time.monotonic()
        if wait > 0.00005:
            time.sleep(wait)
    os.chmod(os.path.join(d, "job%07d" % i), 0o755)
EOF
	# Until auditd has written every event (or stops writing for 5 s).
	last=-1
	for _ in $(seq 600); do
		got=$(grep -c "key=\"$key\"" "$out/audit/audit.log" 2>/dev/null || true)
		[[ "$got" -lt "$n" && "$got" != "$last" ]] || break
		last=$got
		sleep 0.5
	done
	sleep 0.5
	a1=$(cpu "$apid") k1=0
	[[ -z "$kauditd" ]] || k1=$(cpu "$kauditd")
	got=$(grep -c "key=\"$key\"" "$out/audit/audit.log" || true)
	lost=$(auditctl -s | awk '$1=="lost"{print $2}')
	auditctl -W "$dir" -p wa -k "$key" >/dev/null
	kill "$apid"; wait "$apid" 2>/dev/null || true
	apid=
	awk -v a=$((a1 - a0)) -v k=$((k1 - k0)) -v hz="$hz" -v n="$n" -v got="$got" -v lost="$lost" -v load="$load" -v rate="$rate" 'BEGIN{
		printf "auditd, %d chmods at %s/s: auditd %.2f + kauditd %.2f = %.2f CPU s per 100,000 events; logged %d of %d (kernel lost counter %s); loadavg %s\n",
			n, rate, a/hz*1e5/n, k/hz*1e5/n, (a+k)/hz*1e5/n, got, n, lost, load }'
done
