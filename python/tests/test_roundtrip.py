"""Data in and out: pyarrow, pandas and polars, nulls, decimals, ms / us / ns timestamps."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import quantdal

from conftest import SYMBOLS, T0_MS, ticks

UTC_MS = pa.timestamp("ms", tz="UTC")


def sorted_ticks(t: pa.Table) -> pa.Table:
    return t.sort_by([("symbol", "ascending"), ("ts", "ascending")])


def test_pyarrow_table_round_trip(dal: quantdal.Dal) -> None:
    data = ticks(5)
    report = dal.save("ticks", data)
    assert isinstance(report, quantdal.SaveReport)
    assert (report.cls, report.table, report.rows) == ("ticks", "ticks", 15)
    assert report.kind in ("duckdb", "postgres") and report.elapsed > 0
    out = dal.load("ticks")
    assert isinstance(out, pa.Table)
    assert out.schema.field("ts").type == UTC_MS
    assert out.equals(sorted_ticks(data).cast(out.schema))
    assert dal.count("ticks") == 15
    # Idempotent: the same rows again leave the same rows.
    dal.save("ticks", data)
    assert dal.count("ticks") == 15


def test_every_arrow_producer_is_accepted(duck: quantdal.Dal) -> None:
    data = ticks(4)
    duck.save("ticks", data.to_batches()[0])  # RecordBatch
    duck.save("ticks", pa.RecordBatchReader.from_batches(data.schema, data.to_batches()))
    duck.save("ticks", pl.from_arrow(data))  # polars, via __arrow_c_stream__
    duck.save("ticks", data.to_pydict() | {"ts": data.column("ts")})  # a dict of columns
    # Several chunks are joined into one atomic save.
    chunked = pa.concat_tables([ticks(2), ticks(4, start_ms=T0_MS + 60_000)])
    assert chunked.column("ts").num_chunks == 2
    assert duck.save("ticks", chunked).rows == 18
    assert duck.count("ticks") == 12 + 12  # ticks(2) re-saves keys already held


def test_pandas_in_and_out(dal: quantdal.Dal) -> None:
    df = ticks(4).to_pandas()
    assert str(df["ts"].dtype) == "datetime64[ms, UTC]"
    # A filtered frame has a non-range, unnamed index: it is row numbering, not data.
    df = df[df["volume"] > 0]
    assert dal.save("ticks", df).rows == 12
    out = dal.load_pandas("ticks")
    assert str(out["ts"].dtype) == "datetime64[ms, UTC]"
    assert list(out.columns) == ["ts", "symbol", "price", "volume", "amount", "side"]
    assert out["volume"].dtype == "int64"
    expected = df.sort_values(["symbol", "ts"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(out, expected)
    # Nulls come back as None in object columns.
    assert out["side"].isna().sum() == 3
    # into= is the same as load_pandas.
    pd.testing.assert_frame_equal(dal.load("ticks", into="pandas"), out)


def test_pandas_named_index_is_saved(duck: quantdal.Dal) -> None:
    df = ticks(3).to_pandas().set_index("ts")
    assert duck.save("ticks", df).rows == 9
    assert duck.load("ticks").column("ts").type == UTC_MS


def test_polars_in_and_out(dal: quantdal.Dal) -> None:
    df = pl.from_arrow(ticks(4))
    assert isinstance(df, pl.DataFrame)
    assert df.schema["ts"] == pl.Datetime("ms", "UTC")
    assert dal.save("ticks", df).rows == 12
    out = dal.load_polars("ticks")
    assert out.schema["ts"] == pl.Datetime("ms", "UTC")
    assert out.schema["volume"] == pl.Int64
    assert out.equals(df.sort(["symbol", "ts"]))
    assert out["side"].null_count() == 3
    assert dal.load("ticks", into="polars").equals(out)


def test_frames_of_a_result_of_many_batches_match_the_table(dal: quantdal.Dal) -> None:
    # Rows of several store batches, joined into one array per column on the way into a DataFrame
    # (quantdal_core::columns).
    data = ticks(30_000, symbols=[f"S{i:03d}" for i in range(10)], step_ms=7)
    dal.save("ticks", data)
    table = dal.load("ticks")
    assert table.num_rows == 300_000 and table.column("ts").num_chunks > 1
    pd.testing.assert_frame_equal(dal.load_pandas("ticks"), table.to_pandas())
    pd.testing.assert_frame_equal(
        dal.load_pandas("ticks", dtype_backend="numpy_nullable"),
        table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype(), pa.float64(): pd.Float64Dtype(),
                                      pa.string(): pd.StringDtype()}.get),
    )
    assert dal.load_polars("ticks").equals(pl.from_arrow(table))
    # Each column of the frame is one chunk.
    assert dal.load_polars("ticks").n_chunks("all") == [1] * table.num_columns


def test_nulls_and_decimals(dal: quantdal.Dal) -> None:
    t0 = datetime(2024, 1, 2, 1, 30, 0, 123456, tzinfo=timezone.utc)
    data = pa.table(
        {
            "ts": pa.array([t0, t0, t0], pa.timestamp("us", tz="UTC")),
            "account": ["A1", "A1", "B2"],
            "fill_id": pa.array([1, 2, 3], pa.int64()),
            "price": pa.array([Decimal("10.1234"), Decimal("-0.0001"), Decimal("99999999999999.9999")],
                              pa.decimal128(18, 4)),
            "fee": pa.array([Decimal("0.5"), None, Decimal("1")], pa.decimal128(18, 4)),
            "qty": pa.array([100, None, -3], pa.int32()),
            "ratio": pa.array([0.25, None, float("inf")], pa.float64()),
            "maker": pa.array([True, None, False]),
            "note": pa.array(["é中文", None, ""]),
        }
    )
    dal.save("fills", data)
    out = dal.load("fills")
    assert out.schema.field("price").type == pa.decimal128(18, 4)
    assert out.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert out.equals(data.cast(out.schema))
    # pandas: decimals as Decimal objects, nullable ints as float NaN (numpy) or <NA> (numpy_nullable).
    df = dal.load_pandas("fills")
    assert df["price"].tolist() == [Decimal("10.1234"), Decimal("-0.0001"), Decimal("99999999999999.9999")]
    assert df["fee"].tolist()[1] is None
    assert df["qty"].dtype == "float64" and pd.isna(df["qty"][1])
    nullable = dal.load_pandas("fills", dtype_backend="numpy_nullable")
    assert str(nullable["qty"].dtype) == "Int32" and nullable["qty"][1] is pd.NA
    arrow_backed = dal.load_pandas("fills", dtype_backend="pyarrow")
    assert isinstance(arrow_backed["price"].dtype, pd.ArrowDtype)
    pdl = dal.load_polars("fills")
    assert pdl.schema["price"] == pl.Decimal(18, 4)
    assert pdl["maker"].to_list() == [True, None, False]
    # Decimals from pandas objects and exact floats are accepted; a float that is not exact at the scale is not.
    more = pd.DataFrame(
        {
            "ts": pd.to_datetime(["2024-01-02 01:31"], utc=True),
            "account": ["C3"],
            "fill_id": [4],
            "price": [Decimal("1.5")],
        }
    )
    assert dal.save("fills", more).rows == 1
    with pytest.raises(quantdal.InvalidBatchError) as e:
        dal.save("fills", pa.table({"ts": pa.array([t0], pa.timestamp("us", tz="UTC")), "account": ["D"],
                                    "fill_id": [5], "price": [0.123456]}))
    assert e.value.column == "price" and e.value.row == 0
    # A where value that is a Decimal is bound exactly.
    exact = dal.load("fills", where=("price", "=", Decimal("10.1234")))
    assert exact.column("fill_id").to_pylist() == [1]


@pytest.mark.parametrize(
    "cls,unit", [("ticks", "ms"), ("us_ticks", "us"), ("ns_ticks", "ns")]
)
def test_timestamp_precisions(dal: quantdal.Dal, cls: str, unit: str) -> None:
    base = pd.Timestamp("2024-01-02 01:30:00", tz="UTC")
    step = {"ms": pd.Timedelta(milliseconds=1), "us": pd.Timedelta(microseconds=1),
            "ns": pd.Timedelta(nanoseconds=1)}[unit]
    df = pd.DataFrame({"ts": [base, base + step, base + 2 * step], "symbol": ["X"] * 3,
                       "price": [1.0, 2.0, 3.0]})
    df["ts"] = df["ts"].astype("datetime64[ns, UTC]")
    if cls == "ticks":
        df = df.assign(volume=1, amount=1.0)
    dal.save(cls, df)
    out = dal.load(cls, columns=["ts", "symbol", "price"])
    assert out.schema.field("ts").type == pa.timestamp(unit, tz="UTC")
    back = out.to_pandas()["ts"]
    assert list(back) == list(df["ts"])
    # The smallest step of the class is addressable in a range, exactly.
    one = dal.load(cls, start=base + step, end=base + 2 * step)
    assert one.num_rows == 1 and one.column("price").to_pylist() == [2.0]
    pl_out = dal.load_polars(cls)
    assert pl_out.schema["ts"] == pl.Datetime(unit, "UTC")


def test_finer_input_is_refused_when_it_would_be_truncated(duck: quantdal.Dal) -> None:
    ts = pd.to_datetime(["2024-01-02 01:30:00.000", "2024-01-02 01:30:00.0015"], utc=True)
    df = pd.DataFrame({"ts": ts, "symbol": ["X", "X"], "price": [1.0, 2.0], "volume": [1, 1],
                       "amount": [1.0, 2.0]})
    with pytest.raises(quantdal.InvalidBatchError) as e:
        duck.save("ticks", df)
    assert (e.value.cls, e.value.column, e.value.row) == ("ticks", "ts", 1)
    assert duck.count("ticks") == 0  # all rows or none


def test_naive_timestamps_same_rule_for_pandas_polars_pyarrow(duck: quantdal.Dal) -> None:
    naive_pd = pd.DataFrame({"ts": pd.to_datetime(["2024-01-02 01:30"]), "symbol": ["X"], "price": [1.0],
                             "volume": [1], "amount": [1.0]})
    naive_pl = pl.from_pandas(naive_pd)
    naive_pa = pa.Table.from_pandas(naive_pd)
    # pandas 2 makes these ns, pandas 3 us: either way a timestamp without a zone.
    naive_type = naive_pa.schema.field("ts").type
    assert pa.types.is_timestamp(naive_type) and naive_type.tz is None
    for data in (naive_pd, naive_pl, naive_pa):
        with pytest.raises(quantdal.InvalidBatchError) as e:
            duck.save("ticks", data)
        assert e.value.column == "ts" and e.value.cls == "ticks"
        assert "time zone" in str(e.value) and 'naive="utc"' in str(e.value)
    for data in (naive_pd, naive_pl, naive_pa):
        assert duck.save("ticks", data, naive="utc").rows == 1
    out = duck.load("ticks")
    assert out.column("ts").to_pylist() == [datetime(2024, 1, 2, 1, 30, tzinfo=timezone.utc)]
    # Aware timestamps in any zone are instants: Shanghai 09:30 is 01:30 UTC.
    shanghai = naive_pd.assign(ts=pd.to_datetime(["2024-01-02 09:30"]).tz_localize("Asia/Shanghai"))
    duck.save("ticks", shanghai.assign(price=2.0))
    assert duck.load("ticks").column("price").to_pylist() == [2.0]
    # DATE columns are dates: a naive midnight is not a time-zone question.
    days = pd.DataFrame({"trade_date": pd.to_datetime(["2024-01-02", "2024-01-03"]), "symbol": ["X", "X"],
                         "close": [1.0, 2.0], "volume": [1, 2]})
    assert duck.save("daily", days).rows == 2
    assert duck.load("daily").schema.field("trade_date").type == pa.date32()


def test_strings_need_a_format_to_be_timestamps(duck: quantdal.Dal) -> None:
    df = pd.DataFrame({"ts": ["2024-01-02 01:30:00"], "symbol": ["X"], "price": [1.0], "volume": [1],
                       "amount": [1.0]})
    with pytest.raises(quantdal.InvalidBatchError):
        duck.save("ticks", df)
    duck.save("ticks", df, timestamp_format="%Y-%m-%d %H:%M:%S")
    assert duck.load("ticks").column("ts").to_pylist()[0] == datetime(2024, 1, 2, 1, 30, tzinfo=timezone.utc)


def test_empty_result_keeps_the_schema(dal: quantdal.Dal) -> None:
    out = dal.load("ticks", columns=["ts", "price"])
    assert out.num_rows == 0
    assert out.schema.names == ["ts", "price"] and out.schema.field("ts").type == UTC_MS
    assert dal.load_pandas("ticks").empty
    assert dal.load_polars("ticks").height == 0


def test_symbols_of_the_fixture_are_returned_in_series_order(dal: quantdal.Dal) -> None:
    dal.save("ticks", ticks(2, symbols=list(reversed(SYMBOLS))))
    assert dal.load("ticks").column("symbol").to_pylist() == [s for s in SYMBOLS for _ in range(2)]
