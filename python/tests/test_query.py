"""Reading: ranges in every time form, symbols / tags / columns, `where` as tuples and CLI strings, order,
limit, latest, kline, delete, truncate, count."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import quantdal

from conftest import SYMBOLS, T0, T0_MS, ticks


@pytest.fixture
def loaded(dal: quantdal.Dal) -> quantdal.Dal:
    dal.save("ticks", ticks(10))  # 10 ticks per symbol, 3 s apart from T0
    return dal


def rows(t: pa.Table) -> int:
    return t.num_rows


def test_start_end_in_every_form(loaded: quantdal.Dal) -> None:
    start, end = T0 + timedelta(seconds=3), T0 + timedelta(seconds=12)  # ticks 1, 2, 3 of each symbol
    forms = [
        (start, end),
        (start.replace(tzinfo=None), end.replace(tzinfo=None)),  # naive = UTC
        (start.astimezone(ZoneInfo("Asia/Shanghai")), end.astimezone(ZoneInfo("Asia/Shanghai"))),
        (pd.Timestamp(start), pd.Timestamp(end)),
        (pd.Timestamp(start).tz_localize(None), pd.Timestamp(end).tz_localize(None)),
        (np.datetime64("2024-01-02T01:30:03"), np.datetime64("2024-01-02T01:30:12")),
        ("2024-01-02 01:30:03", "2024-01-02T09:30:12+08:00"),
    ]
    for s, e in forms:
        assert rows(loaded.load("ticks", start=s, end=e)) == 9, (s, e)
    # A date is midnight UTC; since / until alone.
    assert rows(loaded.load("ticks", start=date(2024, 1, 2))) == 30
    assert rows(loaded.load("ticks", end=date(2024, 1, 2))) == 0
    assert rows(loaded.load("ticks", start="2024-01-02 01:30:27")) == 3
    with pytest.raises(TypeError):
        loaded.load("ticks", start=1_704_159_000)  # an int has no unit: refused, not guessed


def test_symbols_columns_order_limit(loaded: quantdal.Dal) -> None:
    t = loaded.load("ticks", symbols="600000.SH", columns="ts,price", order="desc", limit=3)
    assert t.schema.names == ["ts", "price"]
    assert t.num_rows == 3
    ts = t.column("ts").to_pylist()
    assert ts == sorted(ts, reverse=True) and ts[0] == T0 + timedelta(seconds=27)
    both = loaded.load("ticks", symbols=["600000.SH", "000001.SZ"], columns=["symbol"])
    assert set(both.column("symbol").to_pylist()) == {"600000.SH", "000001.SZ"}
    assert rows(loaded.load("ticks", tags={"symbol": "300750.SZ"})) == 10
    assert rows(loaded.load("ticks", order="unordered")) == 30


def test_where_tuples_and_strings_bind_alike(loaded: quantdal.Dal) -> None:
    cases = [
        (("price", ">", 12.03), "price > 12.03"),
        (("volume", "between", (200, 300)), "volume between 200 and 300"),
        (("symbol", "in", ["600000.SH", "000001.SZ"]), "symbol in ('600000.SH', 000001.SZ)"),
        (("side", "is null"), "side is null"),
        (("side", "is not null", None), "side IS NOT NULL"),
        (("side", "!=", "B"), "side <> 'B'"),
        (("ts", ">=", T0 + timedelta(seconds=24)), "ts >= '2024-01-02 01:30:24'"),
        (("ts", "<", pd.Timestamp("2024-01-02 09:30:06", tz="Asia/Shanghai")), "ts < 2024-01-02T01:30:06Z"),
        (("volume", "=", np.int64(100)), "volume == 100"),
    ]
    for as_tuple, as_text in cases:
        a = loaded.load("ticks", where=as_tuple)
        b = loaded.load("ticks", where=as_text)
        assert a.equals(b), (as_tuple, as_text)
        assert 0 < a.num_rows < 30, as_tuple
    # Several predicates are ANDed.
    both = loaded.load("ticks", where=[("price", ">", 12.0), "volume >= 300"])
    assert all(p > 12 for p in both.column("price").to_pylist())
    assert all(v >= 300 for v in both.column("volume").to_pylist())


def test_where_values_are_bound_not_spliced(loaded: quantdal.Dal) -> None:
    hostile = "x' OR '1'='1"
    assert rows(loaded.load("ticks", where=("symbol", "=", hostile))) == 0
    assert rows(loaded.load("ticks", where=f"symbol = \"{hostile}\"")) == 0
    assert rows(loaded.load("ticks", symbols=[hostile])) == 0
    assert loaded.count("ticks") == 30


def test_latest(loaded: quantdal.Dal) -> None:
    last = loaded.latest("ticks")
    assert last.column("symbol").to_pylist() == SYMBOLS
    assert set(last.column("ts").to_pylist()) == {T0 + timedelta(seconds=27)}
    one = loaded.latest("ticks", symbols="300750.SZ", columns=["symbol", "price"], into="pandas")
    assert isinstance(one, pd.DataFrame) and list(one["symbol"]) == ["300750.SZ"]
    assert list(one.columns) == ["symbol", "price"]


def test_kline(loaded: quantdal.Dal) -> None:
    bars = loaded.kline("ticks", "1m", symbols="600000.SH")
    assert bars.num_rows == 1
    d = bars.to_pylist()[0]
    assert d["symbol"] == "600000.SH" and d["ts"] == T0
    assert d["count"] == 10
    src = loaded.load("ticks", symbols="600000.SH")
    assert d["volume"] == sum(src.column("volume").to_pylist())
    assert d["open"] == src.column("price")[0].as_py() and d["close"] == src.column("price")[-1].as_py()
    assert d["high"] == max(src.column("price").to_pylist())
    pl_bars = loaded.kline("ticks", "15s", start=T0, end=T0 + timedelta(seconds=30), into="polars")
    assert pl_bars.height == 6  # 2 bars of 15 s x 3 symbols
    with pytest.raises(quantdal.InvalidQueryError):
        loaded.kline("ticks", "5 parsecs")


def test_delete_count_truncate(loaded: quantdal.Dal) -> None:
    gone = loaded.delete("ticks", start=T0, end=T0 + timedelta(seconds=6), symbols="600000.SH")
    assert gone == 2
    assert loaded.count("ticks") == 28
    assert loaded.delete("ticks", where=("side", "is null")) > 0
    with pytest.raises(quantdal.InvalidQueryError):
        loaded.delete("ticks")  # no range or filter: refused, truncate says it explicitly
    left = loaded.count("ticks")
    assert loaded.truncate("ticks") == left
    assert loaded.count("ticks") == 0


def test_daily_dates(dal: quantdal.Dal) -> None:
    days = pa.table({"trade_date": pa.array([date(2024, 1, d) for d in (2, 3, 4)], pa.date32()),
                     "symbol": ["X"] * 3, "close": [1.0, 2.0, 3.0], "volume": [1, 2, 3]})
    dal.save("daily", days)
    assert dal.load("daily", start=date(2024, 1, 3)).column("close").to_pylist() == [2.0, 3.0]
    assert dal.load("daily", where=("trade_date", "=", date(2024, 1, 2))).num_rows == 1
    assert dal.load("daily", where="trade_date between 2024-01-03 and 2024-01-04").num_rows == 2
    df = dal.load_pandas("daily")
    assert df["trade_date"].tolist() == [date(2024, 1, d) for d in (2, 3, 4)]


def test_big_integers_are_exact_or_refused(loaded: quantdal.Dal) -> None:
    assert rows(loaded.load("ticks", where=("volume", "=", 2**53 + 1))) == 0
    with pytest.raises(quantdal.InvalidQueryError):
        loaded.load("ticks", where=("volume", "=", 2**64))


def test_time_where_values_at_class_precision(loaded: quantdal.Dal) -> None:
    # A time finer than the class precision cannot match exactly: an error, not a silent truncation.
    with pytest.raises(quantdal.InvalidQueryError) as e:
        loaded.load("ticks", where=("ts", "=", datetime(2024, 1, 2, 1, 30, 0, 500, tzinfo=timezone.utc)))
    assert e.value.column == "ts"
    assert rows(loaded.load("ticks", where=("ts", "=", pd.Timestamp(T0_MS, unit="ms", tz="UTC")))) == 3
