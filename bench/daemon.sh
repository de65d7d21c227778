#!/usr/bin/env bash
# The daemon under load: cmd/loadgen at the README table's rates, each run RUNS times (default 3),
# then the median of each figure, with the load average beside every run (the machine is shared).
#
# Usage: bench/daemon.sh [OUTDIR]
#
# Builds tripline and loadgen into OUTDIR (default bench/out, git-ignored), then for each row of
# ROWS ("N:RATE", RATE 0 = as fast as one process can) runs
#   loadgen -bin OUTDIR/tripline -dir OUTDIR/load -n N -rate RATE
# and prints one table row: CPU s per 100,000 events, latency p50/p99, time until all were
# recorded, overflows, RSS idle/max, recorded = filesystem. Every run's output is kept in
# OUTDIR/daemon-N-RATE-I.txt. Environment: RUNS, ROWS, GO.
set -euo pipefail

out=${1:-bench/out}
runs=${RUNS:-3}
rows=${ROWS:-"50000:5000 100000:10000 100000:20000 100000:100000 100000:0 250000:0"}
go=${GO:-go}
mkdir -p "$out"
out=$(cd "$out" && pwd)
"$go" build -o "$out/tripline" ./cmd/tripline
"$go" build -o "$out/loadgen" ./cmd/loadgen

median() { sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

echo "| offered rate | events | CPU s / 100k | p50 / p99 | all recorded after | overflows | RSS idle / max | recorded = fs | loadavg |"
echo "|---|---|---|---|---|---|---|---|---|"
for row in $rows; do
	n=${row%%:*} rate=${row##*:}
	cpus=() p50s=() p99s=() recs=() ovfs=() idles=() maxs=() loads=() bad=0
	for i in $(seq "$runs"); do
		f="$out/daemon-$n-$rate-$i.txt"
		loads+=("$(cut -d' ' -f1 /proc/loadavg)")
		"$out/loadgen" -bin "$out/tripline" -dir "$out/load" -n "$n" -rate "$rate" >"$f" 2>&1 || { echo "loadgen failed, see $f" >&2; exit 1; }
		cpus+=("$(sed -n 's/.*, \([0-9.]*\) s per 100,000.*/\1/p' "$f")")
		p50s+=("$(sed -n 's/.*p50 \([0-9.]*\)\(m\?s\).*/\1 \2/p' "$f" | awk '{print ($2=="ms") ? $1/1000 : $1}')")
		p99s+=("$(sed -n 's/.*p99 \([0-9.]*\)\(m\?s\).*/\1 \2/p' "$f" | awk '{print ($2=="ms") ? $1/1000 : $1}')")
		recs+=("$(sed -n 's/.*all recorded after \([0-9.]*\) s/\1/p' "$f")")
		ovfs+=("$(sed -n 's/.*overflows: \([0-9]*\).*/\1/p' "$f")")
		idles+=("$(sed -n 's/RSS idle \([0-9.]*\) MB.*/\1/p' "$f")")
		maxs+=("$(sed -n 's/.*max under load \([0-9.]*\) MB.*/\1/p' "$f")")
		m=$(sed -n 's/.*filesystem for \([0-9]*\) of.*/\1/p' "$f")
		[[ "$m" == 0 ]] || bad=$((bad + 1))
	done
	med() { printf '%s\n' "$@" | median; }
	same="all"
	[[ $bad == 0 ]] || same="$bad runs differ"
	shown=$rate
	[[ $rate != 0 ]] || shown="max"
	echo "| $shown/s | $n | $(med "${cpus[@]}") | $(med "${p50s[@]}") s / $(med "${p99s[@]}") s | $(med "${recs[@]}") s | ${ovfs[*]} | $(med "${idles[@]}") / $(med "${maxs[@]}") MB | $same | ${loads[*]} |"
done
