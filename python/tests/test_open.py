"""Opening: the CLI's config resolution, the embedded default, classes / schema / provision, close."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

import quantdal

from conftest import write_config


def test_default_is_embedded_in_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QUANTDAL_CONFIG", raising=False)
    with quantdal.Dal.open() as dal:
        assert "tick_data" in {c.cls for c in dal.classes()}
        dal.provision()
    assert (tmp_path / "data" / "quantdal.duckdb").exists()


def test_quantdal_config_env_then_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    monkeypatch.setenv("QUANTDAL_CONFIG", str(write_config(env_dir, "    kind: duckdb\n    path: e.duckdb\n")))
    (tmp_path / "config").mkdir()
    write_config(tmp_path / "config", "    kind: duckdb\n    path: c.duckdb\n")
    with quantdal.Dal.open() as dal:
        assert [c.cls for c in dal.classes()][0] == "ticks"
        dal.provision()
    assert (env_dir / "e.duckdb").exists()
    monkeypatch.delenv("QUANTDAL_CONFIG")
    with quantdal.Dal.open() as dal:
        dal.provision()
    assert (tmp_path / "config" / "c.duckdb").exists()
    monkeypatch.setenv("QUANTDAL_CONFIG", str(tmp_path / "nope.yaml"))
    with pytest.raises(quantdal.ConfigError):
        quantdal.Dal.open()


def test_classes_schema_provision(tmp_path: Path) -> None:
    dal = quantdal.Dal.embedded(tmp_path)
    info = {c.cls: c for c in dal.classes()}
    tick = info["tick_data"]
    assert (tick.category, tick.kind, tick.table) == ("market", "duckdb", "tick_data")
    schema = dal.schema("tick_data")
    assert isinstance(schema, pa.Schema)
    assert schema.field("ts").type == pa.timestamp("ms", tz="UTC")
    first = dal.provision()
    assert {e.status for e in first} == {"created"}
    again = dal.provision()
    assert {e.status for e in again} == {"already present"}
    assert isinstance(again[0], quantdal.ProvisionEntry)
    dal.close()
    # close released the file: it opens again in this process.
    with quantdal.Dal.embedded(tmp_path) as reopened:
        assert reopened.count("tick_data") == 0
    assert "closed" in repr(reopened)


def test_read_only(tmp_path: Path) -> None:
    with quantdal.Dal.embedded(tmp_path) as dal:
        dal.provision()
    with quantdal.Dal.embedded(tmp_path, read_only=True) as ro:
        assert ro.count("tick_data") == 0
        assert "duckdb" in repr(ro)
