#!/usr/bin/env bash
# What the exec cache's feeds cost: the wall time of 2,000 short-lived processes (a bash loop of
# `chmod +x` on files outside every watched location, so no fanotify event is made) with no
# daemon running, then with `tripline watch` on each feed; and the daemon's CPU seconds over the
# loop, which is the feed's own cost (every fork, exec and exit on the host passes through it).
#   bench/attrib-overhead.sh /path/to/tripline
set -euo pipefail
bin=${1:?usage: $0 TRIPLINE_BINARY}
n=${N:-2000}
work=$(mktemp -d /tmp/tripline-overhead.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/root/etc/cron.daily" "$work/files"
for i in $(seq 1 "$n"); do : > "$work/files/f$i"; done
loop() { # prints the loop's wall seconds
  local s e
  s=$(date +%s.%N)
  bash -c 'for i in $(seq 1 '"$n"'); do chmod +x "'"$work"'/files/f$i"; done'
  e=$(date +%s.%N)
  awk -v s="$s" -v e="$e" 'BEGIN{print e-s}'
}
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; } # utime+stime, clock ticks
printf '%-10s %10s %14s %14s\n' feed loop_s per_exec_us daemon_cpu_s
loop >/dev/null # warm up
t=$(loop); printf '%-10s %10.3f %14.1f %14s\n' none "$t" "$(awk -v t="$t" -v n="$n" 'BEGIN{print t*1e6/n}')" -
for feed in kernel connector proc; do
  rm -f "$work/t.db"
  "$bin" --db "$work/t.db" --root "$work/root" watch --attribution "$feed" --output /dev/null 2>"$work/log" &
  pid=$!
  for _ in $(seq 1 100); do grep -q 'msg=ready' "$work/log" && break; sleep 0.1; done
  grep -q "attribution=$feed" "$work/log" || { cat "$work/log"; exit 1; }
  c0=$(cpu $pid)
  t=$(loop)
  c1=$(cpu $pid)
  kill -TERM $pid; wait $pid || true
  printf '%-10s %10.3f %14.1f %14.2f\n' "$feed" "$t" "$(awk -v t="$t" -v n="$n" 'BEGIN{print t*1e6/n}')" "$(awk -v a="$c0" -v b="$c1" 'BEGIN{print (b-a)/100}')"
done
