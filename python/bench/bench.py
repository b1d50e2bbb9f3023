#!/usr/bin/env python3
"""quantdal from Python against the Python tools its users would pick instead, in one process, on the same
1,000,000 ticks of the demo's `tick_data` schema (docs/benchmarks.md, "Python").

    python3 -m pip install ./python -r python/bench/requirements.txt
    python3 python/bench/bench.py [--rows 1000000] [--rounds 3] [--pg-url postgres://postgres@127.0.0.1:5432/test]

Embedded: quantdal (`Dal.embedded`) save into an empty keyed table and a range load of every row, against
raw DuckDB (the same DDL, `INSERT INTO tick_data SELECT * FROM <arrow table>`, and the same ordered range
`SELECT … to_arrow_table()`) and ArcticDB on LMDB (`write_batch` / `read_batch` of one symbol per
instrument, the way ArcticDB is meant to be used).

PostgreSQL: quantdal against ADBC (`adbc_ingest` into the same keyed table / `fetch_arrow_table`),
connectorx (`read_sql` → Arrow) and pandas + psycopg2 (`execute_values` upsert, page size 1000 /
`pandas.read_sql`). Every table is created by quantdal's own provisioning (identical DDL, PRIMARY KEY
(symbol, ts)), each tool in a schema of its own (`qd_bench_py*`, dropped at the end). TRUNCATE before every
save round, so every save goes into an empty keyed table.

Python over Rust: the Rust benchmarks (examples/bench_embedded.rs, bench_postgres.rs) are run by this script
right after, on the same rows (bench_data::ticks, reproduced below value for value), and their `Dal::save` /
`Dal::load` medians compared with the Python ones; plus, in process, the Python call's wall time against the
`SaveReport.elapsed` measured inside the Rust `Dal::save`.

Peak memory: a child process per measurement opens the store, warms it up, resets the peak-RSS counter
(/proc/self/clear_refs) and loads the 1M rows into pandas / polars / pyarrow; it reports the peak RSS growth
against the frame's own size.

Variants alternate which goes first each round; medians are reported. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import pyarrow as pa
import pyarrow.compute as pc

# Imported up front so no timed call pays for an import.
import pandas  # noqa: F401
import polars  # noqa: F401

import quantdal

ROOT = Path(__file__).resolve().parents[2]
TABLES = ROOT / "config" / "table_config.yaml"
START_MS = 1_704_159_000_000  # 2024-01-02 01:30 UTC, as bench_data.rs
DAY_MS = 86_400_000
COLUMNS = ["ts", "symbol", "price", "volume", "amount", "bid_price1", "bid_volume1", "ask_price1",
           "ask_volume1", "direction"]
MASK = (1 << 64) - 1


# ------------------------------------------------------------------------------------------------------
# data: examples/bench_data.rs `ticks(rows)`, value for value
# ------------------------------------------------------------------------------------------------------


def ticks(rows: int) -> pa.Table:
    symbols = 500
    per = -(-rows // symbols)
    state = 42

    def nxt() -> int:
        nonlocal state
        state ^= (state << 13) & MASK
        state ^= state >> 7
        state ^= (state << 17) & MASK
        return state

    ts, sym, price, vol, amt, bp, bv, ap, av, dirs = ([] for _ in range(10))
    done = False
    for s in range(symbols):
        name = f"{600_000 + s:06d}.{'SH' if s % 2 == 0 else 'SZ'}"
        cents = 1_000 + nxt() % 5_000
        for i in range(per):
            if len(ts) == rows:
                done = True
                break
            cents = max(cents + nxt() % 3 - 1, 1)
            p = cents / 100.0
            v = (nxt() % 50 + 1) * 100
            ts.append(START_MS + i * 3_000)
            sym.append(name)
            price.append(p)
            vol.append(v)
            amt.append(p * float(v))
            bp.append(p - 0.01)
            bv.append((nxt() % 90 + 1) * 100)
            ap.append(p + 0.01)
            av.append((nxt() % 90 + 1) * 100)
            dirs.append("BSN"[nxt() % 3])
        if done:
            break
    return pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("ms", tz="UTC")),
            "symbol": pa.array(sym, pa.string()),
            "price": pa.array(price, pa.float64()),
            "volume": pa.array(vol, pa.int64()),
            "amount": pa.array(amt, pa.float64()),
            "bid_price1": pa.array(bp, pa.float64()),
            "bid_volume1": pa.array(bv, pa.int64()),
            "ask_price1": pa.array(ap, pa.float64()),
            "ask_volume1": pa.array(av, pa.int64()),
            "direction": pa.array(dirs, pa.string()),
        }
    )


# ------------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------------


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    gc.collect()
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


class Results:
    def __init__(self) -> None:
        self.times: Dict[str, List[float]] = {}
        self.notes: Dict[str, str] = {}

    def add(self, name: str, seconds: float) -> None:
        self.times.setdefault(name, []).append(seconds)

    def median(self, name: str) -> Optional[float]:
        v = self.times.get(name)
        return statistics.median(v) if v else None


def rate(rows: int, s: Optional[float]) -> str:
    return f"{rows / s:,.0f}" if s else "–"


def secs(s: Optional[float]) -> str:
    return f"{s:.3f} s" if s is not None else "–"


def embedded_config(dir: Path) -> Path:
    """Every class in one embedded file, like `Dal::embedded`, but from a config file (so children can
    open it too)."""
    cfg = dir / "quantdal.yaml"
    cfg.write_text(
        f"version: 1\ntables: {TABLES}\nstores:\n  embedded:\n    kind: duckdb\n    path: q.duckdb\n"
        "routes:\n  tdengine: embedded\n  postgres: embedded\n  redis: embedded\n"
    )
    return cfg


def pg_config(dir: Path, url: str, schema: str) -> Path:
    """As examples/bench_postgres.rs: every class on PostgreSQL, plain tables, a schema of its own."""
    cfg = dir / f"{schema}.yaml"
    cfg.write_text(
        f"version: 1\napplication: quantdal-bench-py\ntables: {TABLES}\nstores:\n  pg:\n    kind: postgres\n"
        f'    url: "{url}"\n    schema: {schema}\n    timescale: "off"\n    pool_size: 4\n'
        "routes:\n  tdengine: pg\n  postgres: pg\n  redis: pg\nretry:\n  max_attempts: 1\n"
    )
    return cfg


def psql(url: str, sql: str) -> None:
    subprocess.run(["psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True,
                   capture_output=True)


def strip_tz(t: pa.Table) -> pa.Table:
    """DuckDB's TIMESTAMP_MS column takes tz-less timestamps (as the Rust raw baseline does)."""
    schema = pa.schema([pa.field(f.name, pa.timestamp(f.type.unit)) if pa.types.is_timestamp(f.type) else f
                        for f in t.schema])
    return t.cast(schema)


# ------------------------------------------------------------------------------------------------------
# embedded
# ------------------------------------------------------------------------------------------------------

DUCKDB_DDL = """
CREATE TABLE tick_data (
    ts TIMESTAMP_MS NOT NULL,
    symbol VARCHAR NOT NULL,
    price DOUBLE NOT NULL,
    volume BIGINT NOT NULL,
    amount DOUBLE NOT NULL,
    bid_price1 DOUBLE NOT NULL,
    bid_volume1 BIGINT NOT NULL,
    ask_price1 DOUBLE NOT NULL,
    ask_volume1 BIGINT NOT NULL,
    direction VARCHAR,
    PRIMARY KEY (symbol, ts)
)
"""  # = quantdal_duckdb::create_statements for tick_data (`quantdal provision --dry-run`), less comments


def bench_embedded(data: pa.Table, rounds: int, res: Results, work: Path, arctic: bool) -> Path:
    import duckdb

    rows = data.num_rows
    start = datetime.fromtimestamp(START_MS / 1000, tz=timezone.utc)
    end = datetime.fromtimestamp((START_MS + DAY_MS) / 1000, tz=timezone.utc)
    plain = strip_tz(data)
    # The same rows in arrival order (a feed's shape: time first, every symbol interleaved), so an ordered
    # load cannot lean on the file already being in (symbol, ts) order.
    by_time = data.sort_by([("ts", "ascending"), ("symbol", "ascending")])
    plain_by_time = strip_tz(by_time)
    keep = work / "embedded-keep"
    keep_duckdb = work / "raw-keep.duckdb"

    def run_quantdal(r: int) -> None:
        d = Path(tempfile.mkdtemp(dir=work))
        dal = quantdal.Dal.open(embedded_config(d))
        dal.provision()
        t, report = timed(lambda: dal.save("tick_data", data))
        res.add("q_save", t)
        res.add("q_save_rust_elapsed", report.elapsed)  # type: ignore[union-attr]
        t, table = timed(lambda: dal.load("tick_data", start=start, end=end))
        assert table.num_rows == rows  # type: ignore[union-attr]
        res.add("q_load", t)
        del table
        t, df = timed(lambda: dal.load_pandas("tick_data", start=start, end=end))
        res.add("q_load_pandas", t)
        del df
        t, pl_df = timed(lambda: dal.load_polars("tick_data", start=start, end=end))
        res.add("q_load_polars", t)
        del pl_df
        t, _ = timed(lambda: dal.save("tick_data", data))  # every row conflicts: the upsert path
        res.add("q_resave", t)
        dal.close()
        d2 = Path(tempfile.mkdtemp(dir=work))
        dal = quantdal.Dal.open(embedded_config(d2))
        dal.provision()
        dal.save("tick_data", by_time)
        t, table = timed(lambda: dal.load("tick_data", start=start, end=end))
        assert table.num_rows == rows  # type: ignore[union-attr]
        res.add("q_load_by_time", t)
        del table
        dal.close()
        shutil.rmtree(d2, ignore_errors=True)
        if r == 0 and not keep.exists():
            shutil.move(str(d), keep)  # for the memory children
        else:
            shutil.rmtree(d, ignore_errors=True)

    def run_duckdb(_: int) -> None:
        d = Path(tempfile.mkdtemp(dir=work))
        con = duckdb.connect(str(d / "raw.duckdb"))
        con.execute(DUCKDB_DDL)
        con.register("arrow_ticks", plain)  # a view over the Arrow memory, no copy
        t, _ = timed(lambda: con.execute("INSERT INTO tick_data SELECT * FROM arrow_ticks"))
        res.add("duck_save", t)
        q = "SELECT * FROM tick_data WHERE ts >= ? AND ts < ? ORDER BY symbol, ts"
        args = [start.replace(tzinfo=None), end.replace(tzinfo=None)]
        t, table = timed(lambda: con.sql(q, params=args).to_arrow_table())
        assert table.num_rows == rows  # type: ignore[union-attr]
        res.add("duck_load", t)
        del table
        t, df = timed(lambda: con.sql(q, params=args).df())
        res.add("duck_load_pandas", t)
        del df
        t, pl_df = timed(lambda: con.sql(q, params=args).pl())
        res.add("duck_load_polars", t)
        del pl_df
        if not keep_duckdb.exists():
            con.execute("CHECKPOINT")
            shutil.copy(d / "raw.duckdb", keep_duckdb)  # for the memory children
        con.execute("DELETE FROM tick_data")
        con.register("arrow_by_time", plain_by_time)
        con.execute("INSERT INTO tick_data SELECT * FROM arrow_by_time")
        t, table = timed(lambda: con.sql(q, params=args).to_arrow_table())
        assert table.num_rows == rows  # type: ignore[union-attr]
        res.add("duck_load_by_time", t)
        con.close()
        shutil.rmtree(d, ignore_errors=True)

    def run_arctic(_: int) -> None:
        import arcticdb as adb

        d = Path(tempfile.mkdtemp(dir=work))
        ac = adb.Arctic(f"lmdb://{d}")
        lib = ac.get_library("bench", create_if_missing=True)
        # ArcticDB keys data by symbol: one frame per instrument, indexed by time (prep not timed).
        frames = {s: g.drop(columns="symbol").set_index("ts") for s, g in data.to_pandas().groupby("symbol")}
        payloads = [adb.WritePayload(s, f) for s, f in frames.items()]
        t, _ = timed(lambda: lib.write_batch(payloads))
        res.add("arctic_save", t)
        reqs = [adb.ReadRequest(s, date_range=(start, end)) for s in frames]
        t, items = timed(lambda: lib.read_batch(reqs))
        assert sum(len(i.data) for i in items) == rows  # type: ignore[union-attr]
        res.add("arctic_load", t)
        del items, frames, payloads, lib, ac
        gc.collect()
        shutil.rmtree(d, ignore_errors=True)

    variants = [run_quantdal, run_duckdb] + ([run_arctic] if arctic else [])
    for r in range(rounds):
        order = variants[r % len(variants):] + variants[: r % len(variants)]
        for v in order:
            v(r)
        print(f"embedded round {r + 1}/{rounds} done", file=sys.stderr)
    return keep


# ------------------------------------------------------------------------------------------------------
# PostgreSQL
# ------------------------------------------------------------------------------------------------------


def bench_postgres(data: pa.Table, rounds: int, slow_rounds: int, res: Results, work: Path, url: str,
                   others: bool) -> Optional[Path]:
    rows = data.num_rows
    ts = data.column("ts")
    lo = pc.min(ts).as_py()
    hi = datetime.fromtimestamp(pc.max(ts).value / 1000 + 0.001, tz=timezone.utc)
    schemas = {"q": "qd_bench_py", "adbc": "qd_bench_py_adbc", "pg2": "qd_bench_py_pg2"}
    dals = {}
    for k, s in schemas.items():
        psql(url, f"DROP SCHEMA IF EXISTS {s} CASCADE")
        dals[k] = quantdal.Dal.open(pg_config(work, url, s))
        dals[k].provision()  # identical DDL for every tool
    dal = dals["q"]
    for k in ("adbc", "pg2"):
        dals[k].close()
    select = ("SELECT " + ", ".join(COLUMNS) + " FROM {schema}.tick_data WHERE ts >= {lo} AND ts < {hi} "
              "ORDER BY symbol, ts")

    def run_quantdal(_: int) -> None:
        psql(url, "TRUNCATE qd_bench_py.tick_data")
        t, report = timed(lambda: dal.save("tick_data", data))
        res.add("pg_q_save", t)
        res.add("pg_q_save_rust_elapsed", report.elapsed)  # type: ignore[union-attr]
        t, table = timed(lambda: dal.load("tick_data", start=lo, end=hi))
        assert table.num_rows == rows  # type: ignore[union-attr]
        res.add("pg_q_load", t)
        del table
        t, df = timed(lambda: dal.load_pandas("tick_data", start=lo, end=hi))
        res.add("pg_q_load_pandas", t)
        del df

    def run_adbc(_: int) -> None:
        import adbc_driver_postgresql.dbapi as adbc

        psql(url, "TRUNCATE qd_bench_py_adbc.tick_data")
        with adbc.connect(url) as conn:
            with conn.cursor() as cur:
                def ingest() -> None:
                    cur.adbc_ingest("tick_data", data, mode="append", db_schema_name="qd_bench_py_adbc")
                    conn.commit()

                t, _ = timed(ingest)
                res.add("adbc_save", t)

                def load() -> pa.Table:
                    cur.execute(select.format(schema="qd_bench_py_adbc", lo="$1", hi="$2"), (lo, hi))
                    return cur.fetch_arrow_table()

                t, table = timed(load)
                assert table.num_rows == rows  # type: ignore[union-attr]
                res.add("adbc_load", t)

    def run_connectorx(_: int) -> None:
        import connectorx as cx

        q = select.format(schema="qd_bench_py_adbc", lo=f"'{lo.isoformat()}'", hi=f"'{hi.isoformat()}'")
        cx_url = url.replace("postgres://", "postgresql://", 1)
        t, table = timed(lambda: cx.read_sql(cx_url, q, return_type="arrow"))
        assert table.num_rows == rows  # type: ignore[union-attr]
        res.add("cx_load", t)

    variants: List[Callable[[int], None]] = [run_quantdal, run_adbc] + ([run_connectorx] if others else [])
    for r in range(rounds):
        order = variants[r % len(variants):] + variants[: r % len(variants)]
        for v in order:
            v(r)
        print(f"postgres round {r + 1}/{rounds} done", file=sys.stderr)

    if others and slow_rounds > 0:
        import warnings

        import pandas as pd
        import psycopg2
        from psycopg2.extras import execute_values

        df = data.to_pandas()
        upsert = (
            "INSERT INTO qd_bench_py_pg2.tick_data (" + ", ".join(COLUMNS) + ") VALUES %s "
            "ON CONFLICT (symbol, ts) DO UPDATE SET "
            + ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS if c not in ("symbol", "ts"))
        )
        for r in range(slow_rounds):
            psql(url, "TRUNCATE qd_bench_py_pg2.tick_data")
            conn = psycopg2.connect(url)

            def save() -> None:
                records = [tuple(x) for x in df[COLUMNS].itertuples(index=False, name=None)]
                with conn.cursor() as cur:
                    execute_values(cur, upsert, records, page_size=1000)
                conn.commit()

            t, _ = timed(save)
            res.add("pg2_save", t)
            q = select.format(schema="qd_bench_py_pg2", lo="%(lo)s", hi="%(hi)s")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pandas prefers SQLAlchemy; MyStocks-style code does this
                t, out = timed(lambda: pd.read_sql(q, conn, params={"lo": lo, "hi": hi}))
            assert len(out) == rows  # type: ignore[arg-type]
            res.add("pg2_load", t)
            conn.close()
            print(f"psycopg2 round {r + 1}/{slow_rounds} done", file=sys.stderr)
    dal.close()
    # Keep the quantdal schema for the memory children; dropped by main() afterwards.
    for s in ("qd_bench_py_adbc", "qd_bench_py_pg2"):
        psql(url, f"DROP SCHEMA IF EXISTS {s} CASCADE")
    return pg_config(work, url, "qd_bench_py")


# ------------------------------------------------------------------------------------------------------
# peak RSS, measured in a child process
# ------------------------------------------------------------------------------------------------------


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def _frame_bytes(frame: object) -> int:
    """What a DataFrame holds: its buffers, and each distinct Python object of an object column once
    (pyarrow's to_pandas deduplicates strings, so 1M rows of 500 symbols hold 500 str objects;
    memory_usage(deep=True) would count 1M)."""
    import pandas as pd

    if isinstance(frame, pd.DataFrame):
        total = int(frame.memory_usage(deep=False, index=True).sum())
        for name in frame.columns:
            col = frame[name]
            if col.dtype == object:
                distinct = {id(v): v for v in col.array}
                total += sum(sys.getsizeof(v) for v in distinct.values())
        return total
    if hasattr(frame, "estimated_size"):
        # polars: its own buffers, exported without a copy. `estimated_size()` counts a string column's
        # bytes but not its 16-byte views (checked: 1M strings of 9 bytes and 1M of 1 byte add 32.4 MiB of
        # RSS; estimated_size says 9.5 MiB).
        import polars as pl

        return int(frame.to_arrow(compat_level=pl.CompatLevel.newest()).nbytes)  # type: ignore[attr-defined]
    return int(frame.nbytes)  # type: ignore[attr-defined]


def rss_child(cfg: str, into: str) -> None:
    import ctypes

    import pandas  # noqa: F401 - imported before the baseline
    import polars  # noqa: F401

    start = datetime.fromtimestamp(START_MS / 1000, tz=timezone.utc)
    end = datetime.fromtimestamp((START_MS + DAY_MS) / 1000, tz=timezone.utc)
    if into.startswith("duckdb_"):
        # The peer: Python's duckdb on the raw baseline's file (`cfg`), same range, same order.
        import duckdb

        con = duckdb.connect(cfg, read_only=True)
        query = "SELECT * FROM tick_data WHERE ts >= ? AND ts < ? ORDER BY symbol, ts"
        args = [start.replace(tzinfo=None), end.replace(tzinfo=None)]
        load: Callable[[], object] = {
            "duckdb_pandas": lambda: con.sql(query, params=args).df(),
            "duckdb_polars": lambda: con.sql(query, params=args).pl(),
        }[into]
    else:
        dal = quantdal.Dal.open(cfg)
        load = {
            "pandas": lambda: dal.load_pandas("tick_data", start=start, end=end),
            "pandas_arrow": lambda: dal.load_pandas("tick_data", start=start, end=end,
                                                    dtype_backend="pyarrow"),
            "polars": lambda: dal.load_polars("tick_data", start=start, end=end),
            "arrow": lambda: dal.load("tick_data", start=start, end=end),
        }[into]
    # Warm up: the store's caches (DuckDB's buffer pool holds the table's blocks) and the conversion code.
    warm = load()
    del warm
    gc.collect()
    # Hand freed memory back to the OS, so the measured load has to fault its pages in again instead of
    # reusing what the warm-up left in malloc's free lists.
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    base = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM (peak RSS) to the current RSS
    frame = load()
    gc.collect()
    peak = _status_kib("VmHWM")
    after = _status_kib("VmRSS")
    size = _frame_bytes(frame)
    print(json.dumps({"into": into, "rows": len(frame), "peak_kib": peak - base,
                      "retained_kib": after - base, "frame_bytes": size}))


def measure_rss(cfg: Path, label: str, res: Results, kinds: Sequence[str]) -> None:
    for into in kinds:
        out = subprocess.run([sys.executable, __file__, "--rss-child", str(cfg), into], check=True,
                             capture_output=True, text=True).stdout
        res.notes[f"rss_{label}_{into}"] = out.strip().splitlines()[-1]


# ------------------------------------------------------------------------------------------------------
# the Rust benchmarks, same rows, right after
# ------------------------------------------------------------------------------------------------------


def parse_seconds(text: str) -> float:
    m = re.match(r"([0-9.]+)\s*(ms|s|µs)", text.strip())
    if not m:
        raise ValueError(text)
    v = float(m.group(1))
    return v / 1000 if m.group(2) == "ms" else v / 1e6 if m.group(2) == "µs" else v


def run_rust(rows: int, rounds: int, url: Optional[str], res: Results) -> None:
    env = dict(os.environ)
    cmd = ["cargo", "run", "--release", "-q", "-p", "quantdal-examples", "--example"]
    out = subprocess.run(cmd + ["bench_embedded", "--", str(rows), str(rounds)], cwd=ROOT, env=env,
                         check=True, capture_output=True, text=True).stdout
    res.notes["rust_embedded"] = out
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 2 and cells[1].startswith("**`Dal::save`**"):
            res.add("rust_save", parse_seconds(cells[2]))
        if len(cells) > 2 and cells[1].startswith("**`Dal::load`**"):
            res.add("rust_load", parse_seconds(cells[2]))
    if url:
        env["POSTGRES_URL"] = url
        out = subprocess.run(cmd + ["bench_postgres", "--", str(rows), str(rounds)], cwd=ROOT, env=env,
                             check=True, capture_output=True, text=True).stdout
        res.notes["rust_postgres"] = out
        for line in out.splitlines():
            cells = [c.strip() for c in line.split("|")]
            if len(cells) > 2 and cells[1] == "save into empty keyed table":
                res.add("rust_pg_save", parse_seconds(cells[2]))
            if len(cells) > 2 and cells[1] == "load by time range into Arrow":
                res.add("rust_pg_load", parse_seconds(cells[2]))


# ------------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------------


def report(rows: int, rounds: int, res: Results) -> None:
    m = res.median

    def line(what: str, key: str, base: Optional[str] = None, base_label: str = "") -> None:
        t = m(key)
        ratio = ""
        if base and t and m(base):
            ratio = f"{m(base) / t:.2f}× {base_label}"  # type: ignore[operator]
        print(f"| {what} | {secs(t)} | {rate(rows, t)} | {ratio} |")

    print(f"\nrows: {rows:,}, rounds: {rounds} (medians); quantdal {quantdal.__version__}, "
          f"Python {sys.version.split()[0]}, pyarrow {pa.__version__}")
    print("\n| embedded | time | rows/s | speed vs baseline |\n|---|---:|---:|---|")
    line("quantdal `Dal.save` (pyarrow Table, empty keyed table)", "q_save", "duck_save", "raw DuckDB")
    line("raw DuckDB `INSERT … SELECT * FROM arrow_table` (same DDL)", "duck_save")
    line("ArcticDB LMDB `write_batch` (500 symbols)", "arctic_save", "duck_save", "raw DuckDB")
    line("quantdal `Dal.save` again (every row conflicts)", "q_resave", "duck_save", "raw DuckDB")
    line("quantdal `Dal.load` range → pyarrow.Table", "q_load", "duck_load", "raw DuckDB")
    line("quantdal `load_pandas`", "q_load_pandas", "duck_load_pandas", "raw DuckDB `.df()`")
    line("quantdal `load_polars`", "q_load_polars", "duck_load_polars", "raw DuckDB `.pl()`")
    line("raw DuckDB range `SELECT … ORDER BY` → `to_arrow_table`", "duck_load")
    line("raw DuckDB, the same → pandas (`.df()`)", "duck_load_pandas")
    line("raw DuckDB, the same → polars (`.pl()`)", "duck_load_polars")
    line("quantdal `Dal.load`, rows saved in time order", "q_load_by_time", "duck_load_by_time", "raw DuckDB")
    line("raw DuckDB, the same, rows inserted in time order", "duck_load_by_time")
    line("ArcticDB LMDB `read_batch` (date_range)", "arctic_load", "duck_load", "raw DuckDB")
    if m("pg_q_save"):
        print("\n| PostgreSQL | time | rows/s | speed vs ADBC |\n|---|---:|---:|---|")
        line("quantdal `Dal.save` (empty keyed table)", "pg_q_save", "adbc_save", "ADBC")
        line("ADBC `adbc_ingest` (append, same keyed table)", "adbc_save")
        line("pandas + psycopg2 `execute_values` upsert", "pg2_save", "adbc_save", "ADBC")
        line("quantdal `Dal.load` range → pyarrow.Table", "pg_q_load", "adbc_load", "ADBC")
        line("quantdal `load_pandas`", "pg_q_load_pandas", "adbc_load", "ADBC")
        line("ADBC `execute` + `fetch_arrow_table`", "adbc_load")
        line("connectorx `read_sql(return_type='arrow')`", "cx_load", "adbc_load", "ADBC")
        line("pandas `read_sql` (psycopg2)", "pg2_load", "adbc_load", "ADBC")
    print("\n| Python over Rust | Python | Rust | overhead |\n|---|---:|---:|---:|")

    def over(what: str, py: str, rs: str) -> None:
        a, b = m(py), m(rs)
        if a and b:
            print(f"| {what} | {secs(a)} | {secs(b)} | {100 * (a / b - 1):+.1f}% |")

    over("embedded save: call vs `SaveReport.elapsed` (in process)", "q_save", "q_save_rust_elapsed")
    over("embedded save vs examples/bench_embedded `Dal::save`", "q_save", "rust_save")
    over("embedded load vs examples/bench_embedded `Dal::load`", "q_load", "rust_load")
    over("PostgreSQL save: call vs `SaveReport.elapsed` (in process)", "pg_q_save", "pg_q_save_rust_elapsed")
    over("PostgreSQL save vs examples/bench_postgres", "pg_q_save", "rust_pg_save")
    over("PostgreSQL load vs examples/bench_postgres", "pg_q_load", "rust_pg_load")
    rss = {k: json.loads(v) for k, v in res.notes.items() if k.startswith("rss_")}
    if rss:
        print("\n| peak RSS, 1M rows | into | peak RSS growth | retained | frame size | peak / frame |")
        print("|---|---|---:|---:|---:|---:|")
        for k, v in rss.items():
            store = k.split("_")[1]
            frame = v["frame_bytes"]
            print(f"| {store} | {v['into']} | {v['peak_kib'] / 1024:.0f} MiB | {v['retained_kib'] / 1024:.0f} MiB "
                  f"| {frame / 2**20:.0f} MiB | {v['peak_kib'] * 1024 / frame:.2f}× |")
    for k in ("rust_embedded", "rust_postgres"):
        if k in res.notes:
            print(f"\n<details><summary>{k} output</summary>\n\n{res.notes[k]}\n</details>")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--slow-rounds", type=int, default=1, help="rounds of pandas + psycopg2 (~30 s each)")
    ap.add_argument("--pg-url", default=os.environ.get("POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--no-others", action="store_true", help="only quantdal, raw DuckDB and ADBC")
    ap.add_argument("--no-rust", action="store_true", help="skip running the Rust benchmarks")
    ap.add_argument("--no-rss", action="store_true")
    ap.add_argument("--rss-child", nargs=2, metavar=("CONFIG", "INTO"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        rss_child(*args.rss_child)
        return
    print(f"generating {args.rows:,} ticks (bench_data::ticks) …", file=sys.stderr)
    data = ticks(args.rows)
    res = Results()
    work = Path(tempfile.mkdtemp(prefix="qd-bench-py-"))
    url = None if args.no_pg else args.pg_url
    try:
        keep = bench_embedded(data, args.rounds, res, work, arctic=not args.no_others)
        pg_cfg = None
        if url:
            pg_cfg = bench_postgres(data, args.rounds, args.slow_rounds, res, work, url, not args.no_others)
        if not args.no_rss:
            quantdal_kinds = ("pandas", "polars", "arrow", "pandas_arrow")
            measure_rss(embedded_config(keep), "embedded", res, quantdal_kinds)
            measure_rss(work / "raw-keep.duckdb", "duckdb", res, ("duckdb_pandas", "duckdb_polars"))
            if pg_cfg:
                measure_rss(pg_cfg, "postgres", res, quantdal_kinds)
        if not args.no_rust:
            try:
                run_rust(args.rows, args.rounds, url, res)
            except subprocess.CalledProcessError as e:  # a workspace that does not build: keep the rest
                print(f"Rust benchmarks failed: {e}\n{e.stderr[-2000:] if e.stderr else ''}", file=sys.stderr)
    finally:
        if url:
            for s in ("qd_bench_py", "qd_bench_py_adbc", "qd_bench_py_pg2"):
                psql(url, f"DROP SCHEMA IF EXISTS {s} CASCADE")
        shutil.rmtree(work, ignore_errors=True)
    report(args.rows, args.rounds, res)


if __name__ == "__main__":
    main()
