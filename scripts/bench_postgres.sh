#!/usr/bin/env bash
# quantdal's PostgreSQL store against the MyStocks-style Python baseline: same machine, same server, same rows,
# one run. Usage: scripts/bench_postgres.sh [ROWS] [ROUNDS]   (POSTGRES_URL overrides the local test server)
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-1000000}"
rounds="${2:-3}"
export POSTGRES_URL="${POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
python3 -m pip install --quiet -r scripts/requirements-bench.txt
data="$(mktemp -d)/ticks.parquet"
cargo run --release -p quantdal-examples --example bench_postgres -- "$rows" "$rounds" "$data"
python3 scripts/pg_baseline.py "$data" "$POSTGRES_URL"
rm -f "$data"
