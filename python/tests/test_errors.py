"""Every error kind reaches Python as its own `quantdal.Error` subclass, with class, column, row and the
temporary flag; no Rust panic crosses over."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

import quantdal
from quantdal import _quantdal

from conftest import PG_URL, need_pg, ticks, write_config


def test_hierarchy() -> None:
    assert set(quantdal.KINDS) == {
        "config", "unknown_class", "unknown_column", "invalid_batch", "invalid_query", "locked",
        "unavailable", "conflict", "store", "unsupported", "io",
    }
    for kind, klass in quantdal.KINDS.items():
        assert issubclass(klass, quantdal.Error) and klass.kind == kind
        assert getattr(quantdal, klass.__name__) is klass


@pytest.mark.parametrize("kind", sorted(quantdal.KINDS))
def test_each_kind_maps_to_its_class_with_context(kind: str) -> None:
    with pytest.raises(quantdal.KINDS[kind]) as e:
        _quantdal._raise_error(kind, "synthetic", cls="ticks", column="price", row=7)
    err = e.value
    assert (err.kind, err.cls, err.column, err.row, err.message) == (kind, "ticks", "price", 7, "synthetic")
    assert str(err) == f"{kind} (class ticks, column price, row 7): synthetic"
    assert err.temporary == (kind in ("conflict", "unavailable"))
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is type(err) and (again.kind, again.row, str(again)) == (kind, 7, str(err))


def test_config_error(tmp_path: Path) -> None:
    with pytest.raises(quantdal.ConfigError) as e:
        quantdal.Dal.open(tmp_path / "missing.yaml")
    assert e.value.file and e.value.file.endswith("missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nstores: [nope\n")
    with pytest.raises(quantdal.ConfigError):
        quantdal.Dal.open(bad)


def test_unknown_class_and_column(duck: quantdal.Dal) -> None:
    with pytest.raises(quantdal.UnknownClassError) as e:
        duck.load("nope")
    assert e.value.cls == "nope"
    with pytest.raises(quantdal.UnknownClassError):
        duck.save("nope", ticks(1))
    with pytest.raises(quantdal.UnknownColumnError) as e:
        duck.load("ticks", columns=["ts", "bogus"])
    assert (e.value.cls, e.value.column) == ("ticks", "bogus")
    with pytest.raises(quantdal.UnknownColumnError) as e:
        duck.save("ticks", ticks(1).append_column("extra", pa.array([1, 2, 3])))
    assert e.value.column == "extra"
    with pytest.raises(quantdal.UnknownColumnError):
        duck.load("ticks", where=("bogus", "=", 1))


def test_invalid_batch_names_column_and_row(dal: quantdal.Dal) -> None:
    df = ticks(3).to_pandas()
    df.loc[4, "price"] = None
    with pytest.raises(quantdal.InvalidBatchError) as e:
        dal.save("ticks", df)
    assert (e.value.cls, e.value.column, e.value.row, e.value.operation) == ("ticks", "price", 4, "save")
    dup = pa.concat_tables([ticks(2), ticks(2)])
    with pytest.raises(quantdal.InvalidBatchError, match="key"):
        dal.save("ticks", dup)
    with pytest.raises(quantdal.InvalidBatchError) as e:
        dal.save("ticks", ticks(1).drop_columns(["price"]))
    assert e.value.column == "price"
    long = ticks(1).set_column(5, "side", pa.array(["BB", None, None]))
    with pytest.raises(quantdal.InvalidBatchError) as e:
        dal.save("ticks", long)
    assert (e.value.column, e.value.row) == ("side", 0)
    assert dal.count("ticks") == 0


def test_invalid_query(duck: quantdal.Dal) -> None:
    for kwargs in (
        {"limit": 0},
        {"order": "sideways"},
        {"start": "2024-01-03", "end": "2024-01-02"},
        {"start": "yesterday"},
        {"where": "price ~ 3"},
        {"where": ("price", "like", 3)},
        {"where": ("price", "=", "ten")},
        {"where": ("price", "between", [1])},
    ):
        with pytest.raises(quantdal.InvalidQueryError):
            duck.load("ticks", **kwargs)
    with pytest.raises(quantdal.InvalidQueryError, match="where 'price ~ 3'"):
        duck.load("ticks", where="price ~ 3")


def test_python_type_errors_stay_python(duck: quantdal.Dal) -> None:
    with pytest.raises(TypeError):
        duck.load("ticks", where=[("price", ">", object())])
    with pytest.raises(TypeError):
        duck.save("ticks", [1, 2, 3])
    with pytest.raises(TypeError):
        duck.load("ticks", limit="10")


def test_unsupported(duck: quantdal.Dal) -> None:
    # The embedded store carries no live feed.
    with pytest.raises(quantdal.UnsupportedError, match="no live feed"):
        duck.subscribe("ticks", symbols="X")


def test_locked_by_another_process(tmp_path: Path) -> None:
    holder = textwrap.dedent(
        f"""
        import sys, quantdal
        dal = quantdal.Dal.embedded({str(tmp_path)!r})
        dal.provision()
        print("ready", flush=True)
        sys.stdin.readline()
        dal.close()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        with pytest.raises(quantdal.LockedError) as e:
            quantdal.Dal.embedded(tmp_path)
        assert str(proc.pid) in str(e.value)
    finally:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.close()
        proc.wait(timeout=60)
    # Released with the other process: now it opens.
    quantdal.Dal.embedded(tmp_path).close()


def test_unavailable_server(tmp_path: Path) -> None:
    # Nothing listens on port 1 of the loopback: refused at once.
    cfg = write_config(
        tmp_path,
        '    kind: postgres\n    url: "postgres://postgres@127.0.0.1:1/test"\n    connect_timeout_ms: 2000\n',
    )
    with pytest.raises(quantdal.UnavailableError) as e:
        dal = quantdal.Dal.open(cfg)
        dal.provision()
    assert e.value.temporary


def test_postgres_errors(tmp_path: Path) -> None:
    need_pg()
    from conftest import drop_schema, pg_config

    cfg, schema = pg_config(tmp_path)
    try:
        with quantdal.Dal.open(cfg) as dal:
            # Not provisioned: the server has no such relation, and says so.
            with pytest.raises(quantdal.StoreError, match="provision") as e:
                dal.load("ticks")
            assert (e.value.cls, e.value.operation) == ("ticks", "load")
            dal.provision()
            assert PG_URL
            # Change the live table behind quantdal's back: the server rejects rows validation allowed, and
            # the store reports the data error as invalid_batch, the whole save rolled back.
            subprocess.run(
                ["psql", PG_URL, "-q", "-c",
                 f'ALTER TABLE "{schema}".ticks ADD CONSTRAINT positive CHECK (price > 100)'],
                check=True, capture_output=True,
            )
            with pytest.raises(quantdal.InvalidBatchError, match="23514") as e:
                dal.save("ticks", ticks(1))
            assert e.value.cls == "ticks"
            assert dal.count("ticks") == 0
    finally:
        assert PG_URL
        drop_schema(PG_URL, schema)


def test_errors_cross_threads_without_panics(duck: quantdal.Dal) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def bad(i: int) -> str:
        try:
            duck.load("ticks", where=("price", "=", "x" * i))
        except quantdal.InvalidQueryError as e:
            return e.kind
        return "no error"

    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(bad, range(1, 50))) == {"invalid_query"}


def test_closed_dal(tmp_path: Path) -> None:
    dal = quantdal.Dal.embedded(tmp_path)
    dal.close()
    assert dal.closed
    dal.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        dal.count("tick_data")
    assert os.path.exists(tmp_path / "quantdal.duckdb")
    pd.DataFrame()  # pandas still imports fine after the runtime served a closed Dal
