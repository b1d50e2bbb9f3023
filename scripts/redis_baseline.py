"""redis-py doing the work of examples/bench_redis.rs on the same quotes (docs/benchmarks.md).

A MULTI/EXEC pipeline per save (HSET of every field + PEXPIRE per symbol, ZADD of the index), and pipelined
HGETALL for `latest` of all symbols and of 100, decoded into typed Python rows (what a caller needs; the
raw-bytes time is printed too). No history stream, no feed, no check that a held row is newer: redis-py
does less than quantdal here.

    python3 scripts/redis_baseline.py QUOTES.parquet [ROUNDS] [REDIS_URL]
"""
import statistics
import sys
import time

import pyarrow.parquet as pq
import redis

path = sys.argv[1]
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
url = sys.argv[3] if len(sys.argv) > 3 else "redis://127.0.0.1:6379/0"
table = pq.read_table(path)
rows = table.to_pylist()
n = len(rows)
r = redis.Redis.from_url(url)
prefix = "qdbench:{realtime_quotes}"
types = {"ts": int, "volume": int, "symbol": str}


def key(symbol):
    return f"{prefix}:l:{symbol}"


def decode(h):
    out = {}
    for k, v in h.items():
        k = k.decode()
        out[k] = types.get(k, float)(v.decode() if k == "symbol" else v)
    return out


save, latest_all, latest_some, raw_all = [], [], [], []
some = [row["symbol"] for row in rows[:: n // 100][:100]]
for round_ in range(rounds):
    t = time.perf_counter()
    p = r.pipeline(transaction=True)
    now = int(time.time() * 1000)
    index = {}
    for row in rows:
        ts = int(row["ts"].timestamp() * 1000) + round_ * 1000
        mapping = {k: (ts if k == "ts" else v) for k, v in row.items() if v is not None}
        p.hset(key(row["symbol"]), mapping=mapping)
        p.pexpire(key(row["symbol"]), 86_400_000)
        index[row["symbol"]] = now
    p.zadd(f"{prefix}:series", index)
    p.execute()
    save.append(time.perf_counter() - t)

    t = time.perf_counter()
    members = [m.decode() for m in r.zrange(f"{prefix}:series", 0, -1)]
    p = r.pipeline(transaction=False)
    for m in members:
        p.hgetall(key(m))
    raw = p.execute()
    raw_all.append(time.perf_counter() - t)
    got = [decode(h) for h in raw]
    latest_all.append(time.perf_counter() - t)
    assert len(got) == n

    t = time.perf_counter()
    p = r.pipeline(transaction=False)
    for m in some:
        p.hgetall(key(m))
    got = [decode(h) for h in p.execute()]
    latest_some.append(time.perf_counter() - t)
    assert len(got) == len(some)

ms = lambda v: statistics.median(v) * 1e3
print(f"redis-py {redis.__version__}, {n} symbols, {rounds} rounds (median):")
print(f"  save {n} latest quotes: {ms(save):.2f} ms")
print(f"  latest of {n}:          {ms(latest_all):.2f} ms (raw bytes, undecoded: {ms(raw_all):.2f} ms)")
print(f"  latest of {len(some)}:           {ms(latest_some):.2f} ms")
for k in r.scan_iter(f"{prefix}:*", count=1000):
    r.delete(k)
