#!/usr/bin/env bash
# tripline against AIDE in one run, interleaved, on a tree made by gentree.py: the first scan
# (tripline with its defaults, content versions on, against `aide --init`) and the check after
# 10 mode changes (a second tripline scan against `aide --check`). Both check the same
# attributes over the same tree: AIDE with p+i+n+u+g+s+m+c+sha256, tripline with
# bench/policy-all.yaml. Prints each run, the medians and the ratios tripline/AIDE.
#
# Usage: bench/aide.sh small|large [OUTDIR]
#
# Needs aide (apt-get install aide), GNU time (apt-get install time) and python3. The tree is
# generated once under $TRIPLINE_BENCH_TREES/PROFILE (default /tmp/tripline-bench) and shared with
# bench/run.sh. RUNS (default 3) runs of each step; AIDE_WORKERS (default 2, as tripline's
# default) sets AIDE's num_workers. Nothing outside OUTDIR and the tree is written.
set -euo pipefail

usage() { echo "usage: $0 small|large [OUTDIR]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
profile=$1
case $profile in small|large) ;; *) usage ;; esac

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${2:-$repo/bench/out}/aide-$profile
mkdir -p "$out"
out=$(cd "$out" && pwd)
trees=${TRIPLINE_BENCH_TREES:-/tmp/tripline-bench}
tree=$trees/$profile
marker=$trees/$profile.json
runs=${RUNS:-3}
workers=${AIDE_WORKERS:-2}
policy=$repo/bench/policy-all.yaml
gentree=$repo/bench/gentree.py

command -v aide >/dev/null || { echo "aide.sh: aide is needed (apt-get install aide)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "aide.sh: GNU time is needed (apt-get install time)" >&2; exit 1; }

(cd "$repo" && go build -o "$out/tripline" ./cmd/tripline)
if [[ ! -f $marker || ! -d $tree ]]; then
	mkdir -p "$trees"
	python3 "$gentree" "$tree" --profile "$profile" --force >"$marker.tmp"
	mv "$marker.tmp" "$marker"
fi
echo "tree $tree: $(cat "$marker")"
echo "tripline $(git -C "$repo" describe --always --dirty), $(aide --version 2>&1 | head -1), load $(cut -d' ' -f1-3 /proc/loadavg)"

conf=$out/aide.conf
cat >"$conf" <<EOF
database_in=file:$out/aide.db
database_out=file:$out/aide.db.new
database_new=file:$out/aide.db.new
gzip_dbout=no
report_url=file:$out/aide.report
num_workers=$workers
TL = p+i+n+u+g+s+m+c+sha256
$tree TL
EOF

# timed NAME CMD...: runs CMD under GNU time; appends "NAME wall_s cpu_s rss_kb rc" to $out/times.
timed() {
	local name=$1 rc=0; shift
	/usr/bin/time -f '%e %U %S %M' -o "$out/$name.time" "$@" >"$out/$name.out" 2>"$out/$name.err" || rc=$?
	read -r e u s m < <(tail -n 1 "$out/$name.time")
	echo "$name $e $(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.2f", u+s}') $m $rc" | tee -a "$out/times"
}
db=$out/t.db
rmdb() { rm -f "$1" "$1-wal" "$1-shm"; }
: >"$out/times"

# Warm the page cache for both.
"$out/tripline" --db "$out/warm.db" --root "$tree" --policy "$policy" scan --no-content --format json >/dev/null 2>&1 || true
rmdb "$out/warm.db"

for ((i = 1; i <= runs; i++)); do
	rmdb "$db"
	timed "tripline-first.$i" "$out/tripline" --db "$db" --root "$tree" --policy "$policy" scan --format json
	rm -f "$out/aide.db.new"
	timed "aide-init.$i" aide --init -c "$conf"
done
cp "$db" "$out/baseline.db"
mv "$out/aide.db.new" "$out/aide.db"

python3 -u "$gentree" --mutate "$tree" --count 10 >"$out/mutated"
restore() { python3 "$gentree" --mutate "$tree" --count 10 >/dev/null; }
trap restore EXIT
for ((i = 1; i <= runs; i++)); do
	rmdb "$db"; cp "$out/baseline.db" "$db"
	timed "tripline-check.$i" "$out/tripline" --db "$db" --root "$tree" --policy "$policy" scan --format json
	timed "aide-check.$i" aide --check -c "$conf"
done

python3 - "$out/times" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, wall, cpu, rss, rc = line.split()
    step = name.rsplit(".", 1)[0]
    rows.setdefault(step, []).append((float(wall), float(cpu), int(rss), int(rc)))
def med(step, i):
    return statistics.median(r[i] for r in rows[step])
print("%-16s %8s %8s %10s  %s" % ("step", "wall s", "cpu s", "peak MB", "exit codes"))
for step in ("tripline-first", "aide-init", "tripline-check", "aide-check"):
    print("%-16s %8.2f %8.2f %10.1f  %s" % (step, med(step, 0), med(step, 1), max(r[2] for r in rows[step]) / 1024,
                                            ",".join(str(r[3]) for r in rows[step])))
for a, b in (("tripline-first", "aide-init"), ("tripline-check", "aide-check")):
    print("ratio %s/%s: %.3fx wall, %.3fx cpu" % (a, b, med(a, 0) / med(b, 0), med(a, 1) / max(med(b, 1), 0.01)))
EOF
