#!/usr/bin/env bash
# End-to-end test of the Slurm scale-out against a real one-node Slurm on localhost (called by .ci/run).
#  1. a smoke grid of 4 cells runs as a job array; its aggregated Table I equals a local run's;
#  2. one array task of a slower grid is cancelled mid-run; resubmitting the same script completes
#     the grid with exactly one intact result per cell.
set -euo pipefail
cd "$(dirname "$0")/../.."
X=target/release/xtask
R=${SLURM_TEST_RESULTS:-/tmp/advedge-slurm-test}
rm -rf "$R"; mkdir -p "$R"
cargo build --release --workspace -q
tools/slurm/local-cluster.sh start
trap 'tools/slurm/local-cluster.sh stop' EXIT

wait_job() { # job id, timeout s
  for _ in $(seq 1 "$2"); do
    [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0
    sleep 1
  done
  echo "job $1 did not finish in $2 s" >&2; squeue >&2; return 1
}
submit() {
  local out
  out=$("$X" reproduce table1 "$@" --slurm --cpus-per-task 1)
  echo "$out" >&2
  echo "$out" | awk '/submitted job array/ {print $4}'
}

echo "== 1. smoke grid: Slurm array vs local run"
"$X" reproduce table1 --profile smoke --filter resnet20/pgd/cam --results "$R/local" > "$R/local.log"
JOB=$(submit --profile smoke --filter resnet20/pgd/cam --results "$R/slurm")
wait_job "$JOB" 600
"$X" collect table1 --profile smoke --filter resnet20/pgd/cam --results "$R/slurm"
diff "$R/local/smoke/tables/table1.csv" "$R/slurm/smoke/tables/table1.csv"
diff "$R/local/smoke/tables/table2.csv" "$R/slurm/smoke/tables/table2.csv"
echo "tables 1 and 2 from the Slurm run equal the local run's"

echo "== 2. cancel one array task mid-run, resubmit, check the grid"
ARGS=(--profile cifar --limit 2 --filter resnet20/pgd/cam --results "$R/kill")
JOB=$(submit "${ARGS[@]}")
for _ in $(seq 1 120); do
  [ "$(squeue -h -j "${JOB}_0" -o %T 2>/dev/null)" = "RUNNING" ] && break
  sleep 0.5
done
sleep 2
scancel "${JOB}_0"
echo "cancelled task ${JOB}_0"
wait_job "$JOB" 900
if "$X" collect table1 "${ARGS[@]}" > "$R/collect1.log" 2>&1; then
  echo "expected a missing cell after the cancellation" >&2; cat "$R/collect1.log" >&2; exit 1
fi
grep -q "missing" "$R/collect1.log"
JOB2=$(sbatch --parsable "$R/kill/cifar/slurm/table1-cifar.sbatch")
echo "resubmitted as $JOB2"
wait_job "$JOB2" 900
"$X" collect table1 "${ARGS[@]}"
CELLS="$R/kill/cifar/cells"
n_csv=$(ls "$CELLS"/*.csv | wc -l)
n_keys=$(ls "$CELLS"/*.csv | sed 's/.*-\([0-9a-f]*\)\.csv/\1/' | sort -u | wc -l)
[ "$n_csv" -eq 4 ] && [ "$n_keys" -eq 4 ] || { echo "expected 4 distinct cells, got $n_csv files / $n_keys keys" >&2; exit 1; }
! ls "$CELLS" | grep -q '\.tmp' || { echo "temporary files left behind" >&2; exit 1; }
for f in "$CELLS"/*.csv; do
  imgs=$(grep -o '"images": [0-9]*' "${f%.csv}.json" | tail -1 | awk '{print $2}')
  [ "$(wc -l < "$f")" -eq $((imgs + 1)) ] && [ "$imgs" -ge 1 ] || { echo "$f: rows do not match its manifest ($imgs images)" >&2; exit 1; }
done
echo "slurm: 2 passed, 0 failed"
