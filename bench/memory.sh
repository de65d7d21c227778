#!/usr/bin/env bash
# Peak memory (and CPU) of tripline where the work grows with the data, on default settings:
#   a. a check of a tree whose every file drifted from its baseline (200,000 files made
#      executable: 200,000 findings), then the check after it (200,000 drift rows);
#   b. 'history --since 2h' (text and json) over 400,000 history rows made by cmd/histbench;
#   c. 'baseline show' (text and json) and 'baseline export' (json and csv) of the baseline of
#      the large tree of gentree.py (about 204,000 entries).
# Each figure is /usr/bin/time's peak RSS and user+system CPU seconds, with the load average.
#
# Usage: bench/memory.sh [OUTDIR]
#
# Needs GNU time (apt-get install time) and python3. The drift tree (200,000 small files under
# OUTDIR/drift) and the history database are made once and kept in OUTDIR (default
# bench/out/memory); the large tree is $TRIPLINE_BENCH_TREES/large (bench/run.sh and aide.sh
# make it; made here too when missing). Nothing outside OUTDIR and the tree is written.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$repo/bench/out/memory}
mkdir -p "$out"
out=$(cd "$out" && pwd)
trees=${TRIPLINE_BENCH_TREES:-/tmp/tripline-bench}
policy=$repo/bench/policy-all.yaml
[[ -x /usr/bin/time ]] || { echo "memory.sh: GNU time is needed (apt-get install time)" >&2; exit 1; }

(cd "$repo" && go build -o "$out/tripline" ./cmd/tripline && go build -o "$out/histbench" ./cmd/histbench)
tl=$out/tripline
echo "tripline $(git -C "$repo" describe --always --dirty)"
: >"$out/times"

# measure NAME CMD...: peak RSS and CPU of CMD (its stdout to NAME.out); exit codes 0-15 are
# tripline's findings, not failures.
measure() {
	local name=$1 rc=0 load; shift
	load=$(cut -d' ' -f1 /proc/loadavg)
	/usr/bin/time -f '%e %U %S %M' -o "$out/$name.time" "$@" >"$out/$name.out" 2>"$out/$name.err" || rc=$?
	if ((rc >= 16)); then
		echo "memory.sh: $name failed ($rc):" >&2
		cat "$out/$name.err" >&2
		exit 1
	fi
	read -r e u s m < <(tail -n 1 "$out/$name.time")
	printf '%-34s %8.1f MB peak RSS %7.2f CPU-s %7.2f s wall  load %s\n' "$name" "$(awk -v m="$m" 'BEGIN{print m/1024}')" \
		"$(awk -v u="$u" -v s="$s" 'BEGIN{print u+s}')" "$e" "$load" | tee -a "$out/times"
}
rmdb() { rm -f "$1" "$1-wal" "$1-shm"; }

# a. 200,000 findings: a tree of 400 directories of 500 small files, its baseline, every file
# made executable (exec-bit-set on each), a check, and the check after it.
drift=$out/drift
if [[ ! -f $out/drift.done ]]; then
	rm -rf "$drift"
	python3 - "$drift" <<'EOF'
import os, sys
root = os.path.join(sys.argv[1], "etc/cron.d")
for d in range(400):
    dd = os.path.join(root, "d%03d" % d)
    os.makedirs(dd)
    for f in range(500):
        p = os.path.join(dd, "job%03d" % f)
        with open(p, "w") as fh:
            fh.write("#!/bin/sh\necho %d %d\n" % (d, f))
        os.chmod(p, 0o644)
EOF
	touch "$out/drift.done"
fi
python3 -c 'import os,sys
for dp, dn, fn in os.walk(sys.argv[1]):
    for f in fn: os.chmod(os.path.join(dp, f), 0o644)' "$drift"
rmdb "$out/drift.db"
measure drift-first-scan "$tl" --db "$out/drift.db" --root "$drift" --policy "$policy" scan --format json
python3 -c 'import os,sys
for dp, dn, fn in os.walk(sys.argv[1]):
    for f in fn: os.chmod(os.path.join(dp, f), 0o755)' "$drift"
measure drift-check-200k-findings "$tl" --db "$out/drift.db" --root "$drift" --policy "$policy" scan --format json
measure drift-check-200k-drift-rows "$tl" --db "$out/drift.db" --root "$drift" --policy "$policy" scan --format json
grep -c '"type":"finding"' "$out/drift-check-200k-findings.out" | sed 's/^/  findings written: /'

# b. 400,000 history rows.
hist=$out/hist
if [[ ! -f $out/hist.done ]]; then
	rm -rf "$hist"
	mkdir -p "$hist"
	"$out/histbench" -n 400000 -dir "$hist" >"$out/histbench.txt"
	touch "$out/hist.done"
fi
# histbench's rows are stamped over the 400 s before it ran: widen the window to reach them all.
measure history-since-text "$tl" --db "$hist/history.db" history --since 8760h
measure history-since-json "$tl" --db "$hist/history.db" history --since 8760h --format json
head -n 1 "$out/history-since-text.out" | sed 's/^/  /'

# c. The baseline of the large tree.
large=$trees/large
if [[ ! -f $trees/large.json || ! -d $large ]]; then
	mkdir -p "$trees"
	python3 "$repo/bench/gentree.py" "$large" --profile large --force >"$trees/large.json.tmp"
	mv "$trees/large.json.tmp" "$trees/large.json"
fi
rmdb "$out/large.db"
"$tl" --db "$out/large.db" --root "$large" --policy "$policy" scan --format json >/dev/null
for f in text json; do
	measure "baseline-show-$f" "$tl" --db "$out/large.db" --root "$large" --policy "$policy" baseline show --format "$f"
done
for f in json csv html; do
	measure "baseline-export-$f" "$tl" --db "$out/large.db" --root "$large" --policy "$policy" baseline export --format "$f" -o "$out/export.$f"
done
