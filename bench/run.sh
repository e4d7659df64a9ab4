#!/usr/bin/env bash
# Build the kernel and run every benchmark of bench/ (what `make bench` runs).
#
#   bench/run.sh            full run, about 5 minutes on the 2-core dev VM
#   BENCH_QUICK=1 bench/run.sh   fewer repetitions, about 2 minutes
#
# Output goes to stdout and to $BENCH_LOG (default /tmp/gompi-bench-<time>.txt).
# GOMPI_BIN=path uses that binary instead of building bin/gompi-kernel.
# The idle-CPU benchmark is sensitive to other load on the machine: before each
# measurement it waits (up to 2 minutes) until the machine is less than
# $BENCH_QUIET % busy over 2 s (default 20; 100 = both cores).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
PY=/usr/bin/python3   # Debian's jupyter_client is installed for this python only
LOG=${BENCH_LOG:-/tmp/gompi-bench-$(date +%Y%m%d-%H%M%S).txt}
QUIET=${BENCH_QUIET:-20}

if [ -z "${GOMPI_BIN:-}" ]; then
	go build -o bin/gompi-kernel ./cmd/gompi-kernel
	export GOMPI_BIN=$PWD/bin/gompi-kernel
fi

if [ -n "${BENCH_QUICK:-}" ]; then
	CELLS=50 REPEAT=3 IREPEAT=5 REPS=5
else
	CELLS=200 REPEAT=5 IREPEAT=10 REPS=10
fi

{
	echo "# gompi-kernel benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+dirty'), $(nproc) cores, binary $GOMPI_BIN"
	echo "# uptime: $(uptime)"
	echo
	echo "## idle CPU (bench/idle_cpu.py)"
	$PY bench/idle_cpu.py --ranks 4,16 --seconds 10 --quiet "$QUIET"
	echo
	echo "## round trip of a trivial cell (bench/roundtrip.py)"
	$PY bench/roundtrip.py --ranks 1,4,8,16 --cells "$CELLS"
	echo
	echo "## start-up (bench/startup.py)"
	$PY bench/startup.py --ranks 1,4,16 --repeat "$REPEAT"
	echo
	echo "## interrupt latency (bench/interrupt.py)"
	$PY bench/interrupt.py --ranks 4 --repeat "$IREPEAT"
	echo
	echo "## collectives from a cell (bench/collectives.py)"
	$PY bench/collectives.py --ranks 2,4 --reps "$REPS"
	echo
	echo "# uptime: $(uptime)"
} 2>&1 | tee "$LOG"
echo "(written to $LOG)"
