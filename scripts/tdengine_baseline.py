#!/usr/bin/env python3
"""The same work as examples/bench_tdengine.rs, done with TDengine's official Python native connector (taospy),
on the same rows (the Parquet file the Rust benchmark wrote): save through multi-row SQL and through stmt, range
load into pandas, latest of every series, a 5-minute kline; then FLUSH DATABASE and bytes on disk per row
against the zstd Parquet file.

    pip install taospy pandas pyarrow
    python3 scripts/tdengine_baseline.py TICKS.parquet [--host localhost] [--port 6030] [--data-dir DIR]

--data-dir is the server's dataDir (to measure its vnode files); without it the storage line is skipped. The
database used is `qd_bench_py` (dropped first). Needs libtaos on the loader path (LD_LIBRARY_PATH).
"""

import argparse
import os
import subprocess
import time

import pyarrow.parquet as pq
import taos

START = 1_704_153_600_000
END = START + 86_400_000
DB = "qd_bench_py"
COLUMNS = "ts, price, volume, amount, bid_price1, bid_volume1, ask_price1, ask_volume1, direction"


def timed(label, rows, f):
    t = time.perf_counter()
    out = f()
    d = time.perf_counter() - t
    rate = f" = {rows / d:,.0f} rows/s" if rows else ""
    print(f"{label}: {d * 1000:,.1f} ms{rate}")
    return out, d


def create(conn):
    conn.execute(f"DROP DATABASE IF EXISTS {DB}")
    conn.execute(f"CREATE DATABASE {DB} PRECISION 'ms' KEEP 365000 CACHEMODEL 'last_row'")
    conn.execute(
        f"CREATE STABLE {DB}.tick_data (ts TIMESTAMP, price DOUBLE, volume BIGINT, amount DOUBLE, "
        "bid_price1 DOUBLE, bid_volume1 BIGINT, ask_price1 DOUBLE, ask_volume1 BIGINT, direction VARCHAR(4)) "
        "TAGS (symbol VARCHAR(64))"
    )


def groups(table):
    """(symbol, python columns) per series, in file order."""
    cols = {name: table.column(name).to_pylist() for name in table.column_names}
    ts = [int(t.timestamp() * 1000) for t in cols["ts"]]
    out, start = [], 0
    sym = cols["symbol"]
    for i in range(1, len(sym) + 1):
        if i == len(sym) or sym[i] != sym[start]:
            out.append((sym[start], {k: v[start:i] for k, v in cols.items()} | {"ts": ts[start:i]}))
            start = i
    return out


def save_sql(conn, series, max_bytes=1_000_000):
    """Multi-row, multi-table INSERT text under TDengine's 1 MB SQL limit."""
    parts, size = [], 0

    def flush():
        nonlocal parts, size
        if parts:
            conn.execute("INSERT INTO " + " ".join(parts))
        parts, size = [], 0

    for i, (sym, c) in enumerate(series):
        head = f"{DB}.t{i} USING {DB}.tick_data TAGS ('{sym}') ({COLUMNS}) VALUES "
        values = []
        for r in range(len(c["ts"])):
            d = c["direction"][r]
            values.append(
                f"({c['ts'][r]},{c['price'][r]!r},{c['volume'][r]},{c['amount'][r]!r},{c['bid_price1'][r]!r},"
                f"{c['bid_volume1'][r]},{c['ask_price1'][r]!r},{c['ask_volume1'][r]},"
                + ("NULL" if d is None else f"'{d}'")
                + ")"
            )
        chunk, chunk_size = [], len(head)
        for v in values:
            if size + chunk_size + len(v) > max_bytes and (chunk or parts):
                if chunk:
                    parts.append(head + "".join(chunk))
                flush()
                chunk, chunk_size = [], len(head)
            chunk.append(v)
            chunk_size += len(v)
        if chunk:
            parts.append(head + "".join(chunk))
            size += chunk_size
    flush()


def save_stmt(conn, series):
    """The stmt API: one prepared INSERT, table name + tags + whole columns bound per series."""
    stmt = conn.statement(f"INSERT INTO ? USING {DB}.tick_data TAGS (?) ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)")
    for i, (sym, c) in enumerate(series):
        tags = taos.new_bind_params(1)
        tags[0].binary(sym)
        stmt.set_tbname_tags(f"{DB}.s{i}", tags)
        p = taos.new_multi_binds(9)
        p[0].timestamp(c["ts"])
        p[1].double(c["price"])
        p[2].bigint(c["volume"])
        p[3].double(c["amount"])
        p[4].double(c["bid_price1"])
        p[5].bigint(c["bid_volume1"])
        p[6].double(c["ask_price1"])
        p[7].bigint(c["ask_volume1"])
        p[8].binary(c["direction"])
        stmt.bind_param_batch(p)  # adds the batch too
    stmt.execute()
    stmt.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("parquet")
    ap.add_argument("--host", default="localhost")
    ap.add_argument("--port", type=int, default=6030)
    ap.add_argument("--data-dir")
    a = ap.parse_args()
    table = pq.read_table(a.parquet)
    rows = table.num_rows
    series = groups(table)
    conn = taos.connect(host=a.host, port=a.port, user="root", password="taosdata")

    create(conn)
    timed(f"save multi-row SQL ({rows} rows)", rows, lambda: save_sql(conn, series))
    create(conn)
    timed(f"save stmt ({rows} rows)", rows, lambda: save_stmt(conn, series))

    where = f"WHERE ts >= {START} AND ts < {END}"
    q = f"SELECT ts, symbol, {COLUMNS[4:]} FROM {DB}.tick_data {where} ORDER BY symbol, ts"
    import pandas as pd

    def load_df():
        r = conn.query(q)
        return pd.DataFrame(r.fetch_all(), columns=[f.name for f in r.fields])

    df, _ = timed("load into pandas (DataFrame)", rows, load_df)
    assert len(df) == rows, len(df)
    latest = f"SELECT symbol, LAST_ROW(ts), LAST_ROW(price) FROM {DB}.tick_data PARTITION BY TBNAME, symbol"
    best = min(timed("latest", 0, lambda: conn.query(latest).fetch_all())[1] for _ in range(5))
    print(f"latest: best {best * 1000:.1f} ms")
    kline = (
        f"SELECT symbol, _wstart, FIRST(price), MAX(price), MIN(price), LAST(price), SUM(volume), SUM(amount), "
        f"COUNT(*) FROM {DB}.tick_data {where} PARTITION BY symbol INTERVAL(300s)"
    )
    best = min(timed("kline 5m", 0, lambda: conn.query(kline).fetch_all())[1] for _ in range(3))
    print(f"kline 5m: best {best * 1000:.1f} ms")

    conn.execute(f"FLUSH DATABASE {DB}")
    parquet_bytes = os.path.getsize(a.parquet)
    print(f"parquet zstd: {parquet_bytes / rows:.2f} bytes/row")
    if a.data_dir:
        time.sleep(3)
        vg = [r[0] for r in conn.query(f"SELECT vgroup_id FROM information_schema.ins_vgroups WHERE db_name = '{DB}'").fetch_all()]
        for sub in ("tsdb", "wal"):
            total = 0
            for v in vg:
                path = os.path.join(a.data_dir, "vnode", f"vnode{v}", sub)
                out = subprocess.run(["du", "-sb", path], capture_output=True, text=True).stdout.split()
                total += int(out[0]) if out else 0
            print(f"TDengine {sub}: {total / rows:.2f} bytes/row ({total / parquet_bytes:.2f}x parquet)")


if __name__ == "__main__":
    main()
