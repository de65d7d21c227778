#!/usr/bin/env bash
# The idle daemon: starts `tripline watch` on a 100-file fixture root, waits for ready and 2 s
# more, then counts the context switches of all its threads (its wakeups) and its CPU ticks over
# SECONDS idle seconds, and reports its RSS. Run as root (fanotify).
#
# Usage: bench/daemon-idle.sh TRIPLINE [SECONDS] [watch flags...]
# e.g.   bench/daemon-idle.sh bench/out/tripline 20 --attribution proc
#
# A shared host's own activity is seen too: the exec feed reads other processes' execs, and the
# mount watch other mounts. strace -f -p PID tells those from timers.
set -euo pipefail
bin=$1
secs=${2:-20}
shift $(($# >= 2 ? 2 : 1))
d=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$d"' EXIT
mkdir -p "$d/root/etc/cron.daily"
for i in $(seq 100); do echo '#!/bin/sh' >"$d/root/etc/cron.daily/job$i"; done
"$bin" --db "$d/t.db" --root "$d/root" watch --output "$d/out" "$@" 2>"$d/log" &
pid=$!
for _ in $(seq 150); do grep -q msg=ready "$d/log" && break; sleep 0.2; done
grep -q msg=ready "$d/log" || { cat "$d/log" >&2; exit 1; }
sleep 2
switches() { cat /proc/"$pid"/task/*/status | awk '/^(voluntary|nonvoluntary)_ctxt_switches/{s+=$2} END{print s}'; }
ticks() { awk '{print $14+$15}' /proc/"$pid"/stat; }
c0=$(switches) t0=$(ticks)
sleep "$secs"
c1=$(switches) t1=$(ticks)
rss=$(awk '/^VmRSS/{print $2}' /proc/"$pid"/status)
feed=$(grep -o 'attribution=[a-z]*' "$d/log" | head -1)
echo "idle ${secs} s ($feed): $((c1 - c0)) wakeups ($(awk -v n=$((c1 - c0)) -v s="$secs" 'BEGIN{printf "%.1f", n/s}')/s), $((t1 - t0)) CPU ticks, RSS $((rss / 1024)) MB; loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
