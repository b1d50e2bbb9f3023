#!/usr/bin/env bash
# The Redis benchmark of docs/benchmarks.md: quantdal and redis-py on the same 5,000 quotes, one run.
#   scripts/bench_redis.sh [SYMBOLS] [ROUNDS]       (REDIS_URL defaults to redis://127.0.0.1:6379/0)
set -euo pipefail
cd "$(dirname "$0")/.."
symbols="${1:-5000}"; rounds="${2:-20}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT
python3 -m pip install -q -r scripts/requirements-bench.txt
cargo run --release -q -p quantdal-examples --example bench_redis -- "$symbols" "$rounds" "$out/quotes.parquet"
python3 scripts/redis_baseline.py "$out/quotes.parquet" "$rounds" "$REDIS_URL"
