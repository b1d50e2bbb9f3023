"""Point-in-time reads from Python: `as_of=` on load / latest / kline, `history`, tombstones; and
information-driven bars through `kline`. The Rust suite (tests/src/pit.rs) checks the semantics in depth;
this checks the arguments reach it."""

from __future__ import annotations

import time
from datetime import date, datetime, timezone

import pyarrow as pa
import pytest

import quantdal

from conftest import ticks


def bars(rows: list[tuple[str, date, float, float]]) -> pa.Table:
    """(symbol, trade_date, high, close) rows; open 10, low 9, volume 1000."""
    return pa.table(
        {
            "trade_date": pa.array([r[1] for r in rows], pa.date32()),
            "symbol": pa.array([r[0] for r in rows], pa.string()),
            "open": pa.array([10.0] * len(rows), pa.float64()),
            "high": pa.array([r[2] for r in rows], pa.float64()),
            "low": pa.array([9.0] * len(rows), pa.float64()),
            "close": pa.array([r[3] for r in rows], pa.float64()),
            "volume": pa.array([1_000] * len(rows), pa.int64()),
        }
    )


def between() -> datetime:
    """An instant strictly between the knowledge times of the saves before and after it."""
    time.sleep(0.01)
    now = datetime.now(timezone.utc)
    time.sleep(0.01)
    return now


def test_restated_bar_as_of_before_and_after(dal: quantdal.Dal) -> None:
    d1, d2 = date(2024, 1, 2), date(2024, 1, 3)
    dal.save("vdaily", bars([("600000.SH", d1, 10.5, 10.0), ("600000.SH", d2, 10.8, 10.5)]))
    before_restatement = between()
    dal.save("vdaily", bars([("600000.SH", d2, 11.5, 10.25)]))
    dal.save("vdaily", bars([("600000.SH", d2, 11.5, 10.25)]))  # identical: no new revision

    then = dal.load("vdaily", as_of=before_restatement)
    now = dal.load("vdaily")
    assert then.column("close").to_pylist() == [10.0, 10.5]
    assert now.column("close").to_pylist() == [10.0, 10.25]
    # as_of takes every time form a range bound takes.
    assert dal.load("vdaily", as_of=before_restatement.isoformat()).equals(then)

    latest = dal.latest("vdaily", as_of=before_restatement)
    assert latest.column("close").to_pylist() == [10.5]
    week = dal.kline("vdaily", "7d", as_of=before_restatement)
    assert week.column("high").to_pylist() == [10.8]
    assert dal.kline("vdaily", "7d").column("high").to_pylist() == [11.5]

    h = dal.history("vdaily", where=[("trade_date", "=", d2)])
    assert h.column("close").to_pylist() == [10.5, 10.25]
    assert h.column("_deleted").to_pylist() == [False, False]
    assert h.schema.field("_known_at").type == pa.timestamp("ms", tz="UTC")
    known = h.column("_known_at").to_pylist()
    assert known[0] < before_restatement < known[1]
    assert dal.history("vdaily", as_of=before_restatement).num_rows == 2

    assert dal.delete("vdaily", where="trade_date = 2024-01-02") == 1
    assert dal.count("vdaily") == 1
    assert dal.load("vdaily", as_of=before_restatement).num_rows == 2
    tomb = dal.history("vdaily", symbols="600000.SH", into="pandas")
    assert tomb["_deleted"].tolist() == [False, True, False, False]


def test_as_of_misuse_raises(dal: quantdal.Dal) -> None:
    with pytest.raises(quantdal.InvalidQueryError) as e:
        dal.load("ticks", as_of="2024-01-02")
    assert e.value.cls == "ticks"
    with pytest.raises(quantdal.InvalidQueryError):
        dal.history("ticks")
    with pytest.raises(TypeError):
        dal.load("vdaily", as_of=object())


def test_information_bars(dal: quantdal.Dal) -> None:
    dal.save("ticks", ticks(10, symbols=["600000.SH"]))
    by_ticks = dal.kline("ticks", "ticks:4")
    assert by_ticks.column("count").to_pylist() == [4, 4, 2]
    assert by_ticks.column_names[-2:] == ["first_time", "last_time"]
    by_volume = dal.kline("ticks", "volume:1000", into="pandas")
    assert by_volume["volume"].sum() == dal.load("ticks").column("volume").to_numpy().sum()
    with pytest.raises(quantdal.InvalidQueryError):
        dal.kline("ticks", "ticks:0")
