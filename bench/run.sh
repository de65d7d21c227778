#!/usr/bin/env bash
# Scan speed of tripline against a bare Go walk+sha256 (bench/barewalk) on a tree made by
# gentree.py, with a policy that covers the whole tree (bench/policy-all.yaml).
#
# Usage: bench/run.sh small|large [OUTDIR]
#
# Builds tripline and barewalk into OUTDIR (default bench/out, git-ignored; the table goes to
# OUTDIR/table-PROFILE.txt, a log to OUTDIR/log-PROFILE.txt, the outputs of every run and the
# database to OUTDIR/runs-PROFILE/), generates the tree once
# under $TRIPLINE_BENCH_TREES/PROFILE (default /tmp/tripline-bench; reused while PROFILE.json
# next to it says it is complete), warms the page cache with one barewalk, then measures with
# /usr/bin/time (wall seconds, peak RSS, user+system CPU seconds):
#   a. barewalk -workers $WORKERS (default 2); a'. the same with -iocopy, for reference only
#   b. tripline first scan (fresh database: records the baseline; exit 0)
#   c. gentree.py --mutate (o+w toggled on 10 files), second scan (exit 4 or 12 expected)
#   d. gentree.py --mutate again (modes restored), third scan
# a, b and c are run $RUNS times (default 3 for small, 1 for large) and the fastest is kept; c
# starts each time from a copy of the baseline database, so every run sees the same 10 changes.
# Only exit codes 16, 17 and 130 of tripline are failures: bits 1/2/4/8 report findings.
#
# Each measurement first waits (up to QUIET_WAIT=60 s) for the CPU pressure to drop under
# QUIET_PSI=10% (see wait_quiet), as this is meant for a shared machine; the log records it.
#
# Environment: GENTREE (path of gentree.py), TRIPLINE_BENCH_TREES, RUNS, WORKERS, GO, QUIET_WAIT,
# QUIET_PSI.
set -euo pipefail

usage() { echo "usage: $0 small|large [OUTDIR]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
profile=$1
case $profile in small|large) ;; *) usage ;; esac

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${2:-$repo/bench/out}
mkdir -p "$out"
out=$(cd "$out" && pwd)
gentree=${GENTREE:-$repo/bench/gentree.py}
trees=${TRIPLINE_BENCH_TREES:-/tmp/tripline-bench}
tree=$trees/$profile
marker=$trees/$profile.json     # gentree's summary, written once the tree is complete
mutated=$trees/$profile.mutated # while the tree has the --mutate modes: the paths changed
policy=$repo/bench/policy-all.yaml
workers=${WORKERS:-2}
go=${GO:-go}
if [[ -n ${RUNS:-} ]]; then runs=$RUNS; elif [[ $profile == small ]]; then runs=3; else runs=1; fi
timefmt='%e s %M KB %U u %S s' # GNU time: wall, peak RSS, user and system CPU
log=$out/log-$profile.txt
bin=$out
out=$out/runs-$profile   # per-run outputs, databases
mkdir -p "$out"
db=$out/b.db

[[ -x /usr/bin/time ]] || { echo "run.sh: /usr/bin/time (GNU time) is needed" >&2; exit 1; }
[[ -f $gentree ]] || { echo "run.sh: $gentree not found (set GENTREE)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "run.sh: python3 is needed" >&2; exit 1; }

: >"$log"
say() { echo "$*" | tee -a "$log" >&2; }

rev=$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)
say "== build ($rev)"
(cd "$repo" && "$go" build -o "$bin/tripline" ./cmd/tripline && "$go" build -o "$bin/barewalk" ./bench/barewalk)

# --- tree -----------------------------------------------------------------------------------
# restore_modes: puts back the modes listed in $mutated ("PATH OLD -> NEW" lines, as printed by
# gentree.py --mutate) after an interrupted run. Idempotent, unlike a second --mutate.
restore_modes() {
	python3 - "$tree" "$mutated" <<'PY' >>"$log"
import os, sys
tree, listing = sys.argv[1:]
for line in open(listing):
    rel, old, arrow, new = line.rstrip("\n").rsplit(" ", 3)
    os.chmod(os.path.join(tree, rel), int(old, 8))
    print("restored %s %s" % (rel, old))
PY
	rm -f "$mutated"
}

mkdir -p "$trees"
if [[ -f $marker && -d $tree ]] && python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["profile"] != sys.argv[2])' "$marker" "$profile"; then
	say "== reuse $tree ($(cat "$marker"))"
	if [[ -e $mutated ]]; then
		say "== $tree was left with mutated modes (interrupted run): restoring"
		restore_modes
	fi
else
	rm -f "$marker" "$mutated"
	say "== generate $tree (--profile $profile)"
	t0=$(date +%s.%N)
	python3 "$gentree" "$tree" --profile "$profile" --force >"$marker.tmp"
	mv "$marker.tmp" "$marker"
	say "   $(cat "$marker") in $(python3 -c "print('%.1f s' % ($(date +%s.%N) - $t0))")"
fi

# --- measuring --------------------------------------------------------------------------------
# wait_quiet: on a shared machine, waits (at most $QUIET_WAIT s, default 60; 0: never) until the
# CPU pressure of the last 10 s (/proc/pressure/cpu "some avg10") is under $QUIET_PSI (default
# 10%), so that a measurement does not start in the middle of someone else's build.
wait_quiet() {
	local max=${QUIET_WAIT:-60} lim=${QUIET_PSI:-10} waited=0 psi
	[[ -r /proc/pressure/cpu && $max -gt 0 ]] || return 0
	while :; do
		psi=$(awk '/^some/ {sub("avg10=", "", $2); print $2}' /proc/pressure/cpu)
		if awk -v p="$psi" -v l="$lim" 'BEGIN{exit !(p < l)}' || (( waited >= max )); then
			echo "   (cpu pressure avg10 $psi% after waiting ${waited}s)" >>"$log"
			return 0
		fi
		sleep 2
		waited=$((waited + 2))
	done
}

# measure NAME CMD...: runs CMD under /usr/bin/time; its stdout goes to $out/NAME.stdout, the
# measurement ("%e" "peak RSS KB" "exit code" "wall s" "cpu s") to $out/NAME.time. Exit codes of
# CMD are not judged here.
measure() {
	local name=$1; shift
	local rc=0 t0 t1
	wait_quiet
	t0=${EPOCHREALTIME/[.,]/}
	/usr/bin/time -f "$timefmt" -o "$out/$name.rawtime" "$@" >"$out/$name.stdout" 2>"$out/$name.stderr" || rc=$?
	t1=${EPOCHREALTIME/[.,]/}
	# GNU time prefixes "Command exited with non-zero status N" when CMD fails.
	local last; last=$(tail -n 1 "$out/$name.rawtime")
	# fields: %e, peak RSS KB, exit code, wall seconds with ms precision (around /usr/bin/time),
	# CPU seconds (user+system)
	echo "$last $rc $(( (t1 - t0) / 1000 ))" | awk '{printf "%s %s %s %.3f %.2f\n", $1, $3, $9, $10 / 1000, $5 + $7}' >"$out/$name.time"
	{ echo "-- $name: $last exit $rc"; cat "$out/$name.stderr"; } >>"$log"
}

# barewalk_ok NAME: fails the run when barewalk did not exit 0.
barewalk_ok() {
	if [[ $(awk '{print $3}' "$out/$1.time") != 0 ]]; then
		echo "run.sh: $1: barewalk failed:" >&2
		cat "$out/$1.stderr" >&2
		exit 1
	fi
}

# tripline_ok NAME: fails the run when tripline exited with 16, 17 or 130 (or any code >15).
tripline_ok() {
	local rc; rc=$(awk '{print $3}' "$out/$1.time")
	if (( rc >= 16 )); then
		echo "run.sh: $1: tripline failed with exit $rc:" >&2
		cat "$out/$1.stderr" >&2
		exit 1
	fi
}

rmdb() { rm -f "$db" "$db-wal" "$db-shm" "$db-journal"; }
cpdb() { # cpdb FROM TO: copies a database and its WAL, if any
	rm -f "$2" "$2-wal" "$2-shm"
	cp "$1" "$2"
	[[ ! -e $1-wal ]] || cp "$1-wal" "$2-wal"
}
scan() { # scan NAME
	measure "$1" "$bin/tripline" --db "$db" --root "$tree" --policy "$policy" scan --format json
	tripline_ok "$1"
}

# best NAME N: the run NAME.1..N with the smallest wall time is copied to NAME.{time,stdout}; the
# peak RSS kept is the largest of the runs.
best() {
	local name=$1 n=$2 i bi=1 bt= maxrss=0
	for ((i = 1; i <= n; i++)); do
		read -r _ r _ t _ <"$out/$name.$i.time"
		if [[ -z $bt ]] || awk -v a="$t" -v b="$bt" 'BEGIN{exit !(a < b)}'; then bt=$t; bi=$i; fi
		if (( r > maxrss )); then maxrss=$r; fi
	done
	read -r e r rc t c <"$out/$name.$bi.time"
	echo "$e $maxrss $rc $t $c" >"$out/$name.time"
	cp "$out/$name.$bi.stdout" "$out/$name.stdout"
}

say "== warm the page cache"
"$bin/barewalk" -workers "$workers" "$tree" >>"$log"

say "== a. barewalk -workers $workers (x$runs)"
for ((i = 1; i <= runs; i++)); do measure "barewalk.$i" "$bin/barewalk" -workers "$workers" "$tree"; barewalk_ok "barewalk.$i"; done
best barewalk "$runs"

say "== a'. barewalk -iocopy -workers $workers (x$runs), for reference: the naive io.Copy hashing"
for ((i = 1; i <= runs; i++)); do measure "iocopy.$i" "$bin/barewalk" -iocopy -workers "$workers" "$tree"; barewalk_ok "iocopy.$i"; done
best iocopy "$runs"

say "== b. tripline first scan (x$runs)"
for ((i = 1; i <= runs; i++)); do rmdb; scan "first.$i"; done
best first "$runs"
cpdb "$db" "$out/baseline.db"

say "== c. mutate 10 files, tripline second scan (x$runs)"
# -u: each path is printed right after its chmod, so an interrupted run can be undone.
python3 -u "$gentree" --mutate "$tree" --count 10 >"$mutated"
cat "$mutated" >>"$log"
for ((i = 1; i <= runs; i++)); do cpdb "$out/baseline.db" "$db"; scan "second.$i"; done
best second "$runs"

say "== d. mutate again (modes restored), tripline third scan"
python3 "$gentree" --mutate "$tree" --count 10 >>"$log"
rm -f "$mutated"
scan third
rm -f "$out/baseline.db" "$out/baseline.db-wal"

# --- table ------------------------------------------------------------------------------------
python3 - "$out" "$profile" "$tree" "$runs" "$workers" "$rev" <<'EOF' | tee "$bin/table-$profile.txt"
import json, sys
out, profile, tree, runs, workers, rev = sys.argv[1:]

def timing(name):
    e, kb, rc, t, c = open("%s/%s.time" % (out, name)).read().split()
    return float(t), int(kb), int(rc), (float(e), float(c))

def last_json(name):
    lines = [l for l in open("%s/%s.stdout" % (out, name)) if l.strip()]
    return json.loads(lines[-1])

rows = []
t, kb, rc, e = timing("barewalk")
b = last_json("barewalk")
rows.append(("barewalk -workers %s" % workers, b["entries"], b["files"], b["bytes"], t, b["seconds"], kb, rc, e, b["files"], b["bytes"]))
t, kb, rc, e = timing("iocopy")
b = last_json("iocopy")
ref = ("(ref) barewalk -iocopy", b["entries"], b["files"], b["bytes"], t, b["seconds"], kb, rc, e, b["files"], b["bytes"])
for name, label in (("first", "tripline first scan"), ("second", "tripline 2nd scan (10 chmod)"), ("third", "tripline 3rd scan (restored)")):
    t, kb, rc, e = timing(name)
    s = last_json(name)
    assert s.get("type") == "summary", s
    files = s["hashed"] + s["reused"] + s["not_hashed_too_large"]
    rows.append((label, s["paths"], files, s["hashed_bytes"], t, s["seconds"], kb, rc, e, s["hashed"], s["reused"]))

MB = 1e6
print("tripline %s; profile %s, tree %s" % (rev, profile, tree))
print("best of %s run(s) for a-c (peak RSS: largest of the runs)" % runs)
print("files: regular files examined (tripline: hashed+reused); MB: bytes read and hashed (10^6)")
print("wall s: process start to exit, ms clock around /usr/bin/time (%e: its own 10 ms figure);")
print("self s: the program's own timer; cpu s: user+system (steadier than wall on a busy machine);")
print("files/s and MB/s from wall s")
hdr = ("step", "paths", "files", "MB", "%e", "wall s", "self s", "cpu s", "files/s", "MB/s", "peak RSS MB", "exit", "hashed/reused")
fmt = "%-30s %7s %7s %7s %6s %7s %7s %6s %8s %7s %11s %4s  %s"
print(fmt % hdr)
for label, paths, files, nbytes, wall, self_, kb, rc, e, h, r in rows[:1] + [ref] + rows[1:]:
    w = max(wall, 0.001)
    extra = "%d/%d" % (h, r) if label.startswith("tripline") else ""
    print(fmt % (label, paths, files, "%.1f" % (nbytes / MB), "%.2f" % e[0], "%.3f" % wall, "%.3f" % self_, "%.2f" % e[1],
                 "%.0f" % (files / w), "%.1f" % (nbytes / MB / w), "%.1f" % (kb / 1024), rc, extra))
bw, tf = rows[0], rows[1]
print("ratio tripline-first/barewalk: %.2fx wall, %.2fx self, %.2fx cpu (aim: <= 1.2x)"
      % (tf[4] / max(bw[4], 0.001), tf[5] / bw[5], tf[8][1] / max(bw[8][1], 0.01)))
print("second scan: %.3f s wall (aim: < 2 s); peak RSS max over tripline scans: %.1f MB (aim: < 60 MB)"
      % (rows[2][4], max(r[6] for r in rows[1:]) / 1024))
EOF
