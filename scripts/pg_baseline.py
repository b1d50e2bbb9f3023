#!/usr/bin/env python3
"""The Python way MyStocks-style code saves and loads ticks in PostgreSQL, as the baseline quantdal's
PostgreSQL store is compared with (docs/benchmarks.md): pandas + psycopg2 `execute_values` with
`ON CONFLICT ... DO UPDATE`, page size 1000; loads with `pandas.read_sql`.

    python3 -m pip install -r scripts/requirements-bench.txt
    python3 scripts/pg_baseline.py TICKS.parquet [POSTGRES_URL]

The Parquet file holds the very rows the Rust benchmark saves (bench_postgres writes it); the table has the
same columns, types and key as quantdal's `tick_data`, in schema `qd_bench_py`.
"""

import sys
import time
import warnings

import pandas as pd
import psycopg2
from psycopg2.extras import execute_values

COLUMNS = [
    "ts", "symbol", "price", "volume", "amount",
    "bid_price1", "bid_volume1", "ask_price1", "ask_volume1", "direction",
]

DDL = """
DROP SCHEMA IF EXISTS qd_bench_py CASCADE;
CREATE SCHEMA qd_bench_py;
CREATE TABLE qd_bench_py.tick_data (
    ts TIMESTAMPTZ(3) NOT NULL,
    symbol VARCHAR(16) NOT NULL,
    price DOUBLE PRECISION NOT NULL,
    volume BIGINT NOT NULL,
    amount DOUBLE PRECISION NOT NULL,
    bid_price1 DOUBLE PRECISION NOT NULL,
    bid_volume1 BIGINT NOT NULL,
    ask_price1 DOUBLE PRECISION NOT NULL,
    ask_volume1 BIGINT NOT NULL,
    direction VARCHAR(1),
    PRIMARY KEY (symbol, ts)
);
"""

UPSERT = (
    "INSERT INTO qd_bench_py.tick_data (" + ", ".join(COLUMNS) + ") VALUES %s "
    "ON CONFLICT (symbol, ts) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS if c not in ("symbol", "ts"))
)


def save(conn, df):
    """MyStocks-style: DataFrame -> list of tuples -> execute_values, one transaction."""
    records = [tuple(r) for r in df[COLUMNS].itertuples(index=False, name=None)]
    with conn.cursor() as cur:
        execute_values(cur, UPSERT, records, page_size=1000)
    conn.commit()


def main():
    # MyStocks-style code hands read_sql a psycopg2 connection; pandas warns about that but it works.
    warnings.filterwarnings("ignore", message="pandas only supports SQLAlchemy")
    path = sys.argv[1]
    url = sys.argv[2] if len(sys.argv) > 2 else "postgresql://postgres@127.0.0.1:5432/test"
    df = pd.read_parquet(path)
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    rows = len(df)
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute(DDL)
    conn.commit()

    t = time.perf_counter()
    save(conn, df)
    fresh = time.perf_counter() - t

    t = time.perf_counter()
    save(conn, df)
    again = time.perf_counter() - t

    lo, hi = df["ts"].min(), df["ts"].max()
    t = time.perf_counter()
    loaded = pd.read_sql(
        "SELECT * FROM qd_bench_py.tick_data WHERE ts >= %(lo)s AND ts <= %(hi)s ORDER BY symbol, ts",
        conn,
        params={"lo": lo.to_pydatetime(), "hi": hi.to_pydatetime()},
    )
    load = time.perf_counter() - t
    assert len(loaded) == rows, (len(loaded), rows)

    with conn.cursor() as cur:
        cur.execute("DROP SCHEMA qd_bench_py CASCADE")
    conn.commit()
    conn.close()

    print(f"Python baseline (pandas {pd.__version__}, psycopg2 {psycopg2.__version__.split()[0]}), {rows} tick rows")
    print("| operation | time | rows/s |")
    print("|---|---|---|")
    print(f"| save into empty keyed table (execute_values, page 1000) | {fresh:.2f}s | {rows / fresh:.0f} |")
    print(f"| re-save, every row conflicts | {again:.2f}s | {rows / again:.0f} |")
    print(f"| load by time range (pandas.read_sql) | {load:.2f}s | {rows / load:.0f} |")


if __name__ == "__main__":
    main()
