"""Fixtures: a `Dal` over tests/classes.yaml on the embedded store (always) and on PostgreSQL (when
QUANTDAL_TEST_PG_URL is set; with QUANTDAL_REQUIRE_SERVICES=1 a missing URL fails instead of skipping, as in
the Rust suite). Every PostgreSQL test works in a schema of its own, dropped when the test ends."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pytest

import quantdal

HERE = Path(__file__).resolve().parent
CLASSES = HERE / "classes.yaml"
PG_URL = os.environ.get("QUANTDAL_TEST_PG_URL")
REQUIRE = os.environ.get("QUANTDAL_REQUIRE_SERVICES") == "1"

# 2024-01-02 01:30:00 UTC (09:30 in Shanghai), in ms.
T0_MS = 1_704_159_000_000
T0 = datetime(2024, 1, 2, 1, 30, tzinfo=timezone.utc)
SYMBOLS = ["000001.SZ", "300750.SZ", "600000.SH"]

_schemas = itertools.count()


def write_config(dir: Path, store: str, monitoring: bool = False) -> Path:
    """A quantdal.yaml in `dir` routing every test class to the store `main` (`store` is its YAML body).
    ns_ticks names `nanos`: routed to `main` when that is embedded, else to an embedded file beside it."""
    nanos = (
        "routes:\n  nanos: main\n"
        if "kind: duckdb" in store
        else "  nanos:\n    kind: duckdb\n    path: nanos.duckdb\n"
    )
    cfg = dir / "quantdal.yaml"
    cfg.write_text(
        "version: 1\n"
        f"tables: {CLASSES}\n"
        "stores:\n"
        f"  main:\n{store}"
        + (nanos if nanos.startswith("  ") else "")
        + (nanos if nanos.startswith("routes") else "")
        + f"monitoring:\n  enabled: {'true' if monitoring else 'false'}\n"
    )
    return cfg


def drop_schema(url: str, schema: str) -> None:
    subprocess.run(
        ["psql", url, "-q", "-c", f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'],
        check=False,
        capture_output=True,
    )


def pg_config(dir: Path) -> tuple[Path, str]:
    assert PG_URL
    schema = f"qd_pytest_{os.getpid()}_{next(_schemas)}"
    store = (
        "    kind: postgres\n"
        f'    url: "{PG_URL}"\n'
        f"    schema: {schema}\n"
        '    timescale: "off"\n'
        "    pool_size: 4\n"
    )
    return write_config(dir, store), schema


def need_pg() -> None:
    if not PG_URL:
        if REQUIRE:
            pytest.fail("QUANTDAL_TEST_PG_URL is unset but QUANTDAL_REQUIRE_SERVICES=1")
        pytest.skip("QUANTDAL_TEST_PG_URL is unset")
    if shutil.which("psql") is None:
        pytest.fail("psql is needed to drop the test schema")


@pytest.fixture(params=["duckdb", "postgres"])
def dal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[quantdal.Dal]:
    """A provisioned Dal over the test classes, on each store."""
    if request.param == "duckdb":
        cfg = write_config(tmp_path, "    kind: duckdb\n    path: q.duckdb\n")
        d = quantdal.Dal.open(cfg)
        d.provision()
        yield d
        d.close()
    else:
        need_pg()
        cfg, schema = pg_config(tmp_path)
        try:
            d = quantdal.Dal.open(cfg)
            d.provision()
            yield d
            d.close()
        finally:
            assert PG_URL
            drop_schema(PG_URL, schema)


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[quantdal.Dal]:
    """The embedded store only (tests of things that do not depend on the store)."""
    cfg = write_config(tmp_path, "    kind: duckdb\n    path: q.duckdb\n")
    d = quantdal.Dal.open(cfg)
    d.provision()
    yield d
    d.close()


def ticks(rows_per_symbol: int = 4, symbols=SYMBOLS, start_ms: int = T0_MS, step_ms: int = 3_000) -> pa.Table:
    """Ticks grouped by symbol with rising time, prices on a 0.01 grid, every 4th side null."""
    ts, sym, price, volume, amount, side = [], [], [], [], [], []
    for s_i, s in enumerate(symbols):
        for i in range(rows_per_symbol):
            p = round(10 + s_i + (i % 7) * 0.01, 2)
            v = 100 * (1 + i % 5)
            ts.append(start_ms + i * step_ms)
            sym.append(s)
            price.append(p)
            volume.append(v)
            amount.append(p * v)
            side.append(None if i % 4 == 3 else "BSN"[i % 3])
    return pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("ms", tz="UTC")),
            "symbol": pa.array(sym, pa.string()),
            "price": pa.array(price, pa.float64()),
            "volume": pa.array(volume, pa.int64()),
            "amount": pa.array(amount, pa.float64()),
            "side": pa.array(side, pa.string()),
        }
    )
