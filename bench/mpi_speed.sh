#!/usr/bin/env bash
# One machine's cores as threads of one process or as processes under mpirun:
# `./train_mnist --threads C` against `mpirun -np C ./train_mnist --threads 1`, same
# config and global batch, interleaved rounds, the median ms/step of the progress
# lines after step 10 of each run (the first steps warm the allocator's caches).
#
#   bash bench/mpi_speed.sh [ROUNDS [STEPS [CORES]]] [-- train_mnist flags...]
#
# Defaults: 3 rounds, 60 steps, all cores (nproc), the default model at batch 64.
# Needs an MPI build (make, with mpicxx found) and the MNIST files (--data or VDM_DATA).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3} steps=${2:-60} cores=${3:-$(nproc)}
shift $(($# < 3 ? $# : 3))
[ "${1:-}" = "--" ] && shift
extra=("$@")
command -v mpirun >/dev/null || { echo "no mpirun: install an MPI (Debian: openmpi-bin libopenmpi-dev)"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
launch=(mpirun -np "$cores")
mpirun --version 2>/dev/null | grep -q "Open MPI" && launch+=(--oversubscribe)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
common=(--steps "$steps" --batch 64 --sample-n 0 --eval-every 0 --val-n 1 "${extra[@]}")

median_ms() {  # the median of the "N ms/step" of progress lines past step 10
    sed -nE 's#^step +([0-9]+)/[0-9]+ .* ([0-9]+) ms/step .*#\1 \2#p' "$1" | awk '$1 > 10 {print $2}' | sort -n |
        awk '{v[NR] = $1} END {if (NR == 0) print "?"; else print v[int((NR + 1) / 2)]}'
}

echo "| round | 1 process x $cores threads | $cores processes x 1 thread |"
echo "|---|---:|---:|"
for round in $(seq "$rounds"); do
    ./train_mnist --threads "$cores" "${common[@]}" --out "$tmp/threads" >/dev/null 2>"$tmp/threads.log"
    "${launch[@]}" ./train_mnist --threads 1 "${common[@]}" --out "$tmp/processes" >/dev/null 2>"$tmp/processes.log"
    echo "| $round | $(median_ms "$tmp/threads.log") ms/step | $(median_ms "$tmp/processes.log") ms/step |"
done
