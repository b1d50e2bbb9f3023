"""quantdal: save and load Arrow data by data class (``tick_data``, ``daily_kline``, …) in one call, whichever
store the class is configured for — an embedded DuckDB file by default, PostgreSQL / TimescaleDB, TDengine,
Redis. This is the Python face of the Rust crate ``quantdal``, with the same semantics::

    import quantdal

    dal = quantdal.Dal.open()                     # the CLI's config resolution; embedded ./data by default
    dal.provision()                               # create / check every table (idempotent)
    report = dal.save("tick_data", df)            # pandas / polars / pyarrow; an upsert, all rows or none
    ticks = dal.load_pandas("tick_data", start="2024-01-02 01:30", end="2024-01-02 03:30",
                            symbols=["600000.SH"], where=[("price", ">", 10.5)], limit=1000)
    bars = dal.kline("tick_data", "5m", start="2024-01-02", into="polars")

Every call is synchronous and releases the GIL while the store works, so Python threads run meanwhile; all
``Dal`` objects of a process share one internal tokio runtime.

**Time.** Results carry tz-aware UTC timestamps at the class's precision (ms / us / ns). ``start`` / ``end``
and time values in ``where`` take ``datetime`` (a naive one is read as UTC, the rule the CLI applies to its
time strings), ``date`` (midnight UTC), ``pandas.Timestamp``, ``numpy.datetime64`` or the CLI's strings
(RFC 3339, ``YYYY-MM-DD HH:MM[:SS[.f]]`` in UTC, ``YYYY-MM-DD``). Ranges are ``start <= t < end``.

**Data in.** A *column* of timestamps without a time zone is refused by default (``InvalidBatchError``,
naming the column), for pandas, polars and pyarrow alike: naive market timestamps are as often exchange
local time as UTC, and guessing would shift rows by hours silently. Localize them, or pass
``naive="utc"`` to ``save`` to have them read as UTC.
"""

from __future__ import annotations

import atexit
import datetime as _dt
import sys
import warnings
import weakref
from dataclasses import dataclass
from decimal import Decimal
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Literal,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
    overload,
)

from . import _quantdal
from .errors import (
    KINDS,
    ConfigError,
    ConflictError,
    Error,
    InvalidBatchError,
    InvalidQueryError,
    IoError,
    LockedError,
    StoreError,
    UnavailableError,
    UnknownClassError,
    UnknownColumnError,
    UnsupportedError,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    import os

    import pandas
    import polars
    import pyarrow

__version__: str = _quantdal.__version__

__all__ = [
    "Dal",
    "SaveReport",
    "ClassInfo",
    "ProvisionEntry",
    "Error",
    "ConfigError",
    "UnknownClassError",
    "UnknownColumnError",
    "InvalidBatchError",
    "InvalidQueryError",
    "LockedError",
    "UnavailableError",
    "ConflictError",
    "StoreError",
    "UnsupportedError",
    "IoError",
    "KINDS",
]

#: Anything accepted as a time: a CLI time string, ``datetime`` (naive = UTC), ``date`` (midnight UTC),
#: ``pandas.Timestamp`` or ``numpy.datetime64``.
TimeLike = Union[str, _dt.datetime, _dt.date, Any]
#: One predicate: the CLI grammar (``"price > 10.5"``, ``"symbol in (a, b)"``, ``"reason is null"``) or a
#: tuple ``(column, op, value)``; ``op`` is one of ``= == != <> < <= > >= in between``, ``"is null"`` and
#: ``"is not null"`` (as a 2-tuple or with ``None``). ``in`` takes a sequence, ``between`` a ``(low, high)``.
WhereItem = Union[str, Tuple[str, str], Tuple[str, str, Any]]
Where = Union[WhereItem, Sequence[WhereItem]]
Into = Literal["arrow", "pandas", "polars"]

_NANOS_PER_SECOND = 1_000_000_000
_EPOCH_NAIVE = _dt.datetime(1970, 1, 1)
_EPOCH_UTC = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_EPOCH_DATE = _dt.date(1970, 1, 1)
_NULL_OPS = ("is null", "is_null", "is not null", "is_not_null")


@dataclass(frozen=True)
class SaveReport:
    """What one :meth:`Dal.save` did."""

    cls: str
    """The data class saved into."""
    store: str
    """The store's name in ``quantdal.yaml`` (``embedded``, ``warehouse``, …)."""
    kind: str
    """The store's kind: ``duckdb``, ``postgres``, ``tdengine``, ``redis``."""
    table: str
    """The table written."""
    rows: int
    """Rows upserted."""
    elapsed: float
    """Seconds the save took inside the data layer (validation + store)."""


@dataclass(frozen=True)
class ClassInfo:
    """One data class as the router sees it (:meth:`Dal.classes`)."""

    cls: str
    category: str
    route: str
    """The class-level store name of the table config (``tdengine``, ``postgres``, …)."""
    store: str
    """The concrete store it resolves to."""
    kind: str
    table: str
    description: str


@dataclass(frozen=True)
class ProvisionEntry:
    """What :meth:`Dal.provision` found or did for one class."""

    cls: str
    store: str
    table: str
    status: str
    """``created``, ``already present`` or a description of the drift found."""
    notes: List[str]
    """What the store left out for this class and why (e.g. TimescaleDB features without the extension)."""


# --------------------------------------------------------------------------------------------------------
# argument normalisation: Python values -> the simple types the native module takes
# --------------------------------------------------------------------------------------------------------


def _time_ns(value: Any, what: str) -> Union[int, str]:
    """A time argument as nanoseconds since the epoch (UTC), or a string for the Rust parser."""
    if isinstance(value, str):
        return value
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, pd.Timestamp):
        if value is pd.NaT:
            raise TypeError(f"{what}: NaT is not a time")
        # .value is nanoseconds since the epoch: UTC for an aware Timestamp, the wall clock read as UTC for a
        # naive one (the same rule as naive datetimes).
        return int(value.value)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.datetime64):
        if np.isnat(value):
            raise TypeError(f"{what}: NaT is not a time")
        return int(value.astype("datetime64[ns]").astype(np.int64))
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            delta = value - _EPOCH_NAIVE
        else:
            delta = value - _EPOCH_UTC
        # Exact integer arithmetic: no float seconds, so microseconds never round.
        return (delta.days * 86_400 + delta.seconds) * _NANOS_PER_SECOND + delta.microseconds * 1_000
    if isinstance(value, _dt.date):
        return (value - _EPOCH_DATE).days * 86_400 * _NANOS_PER_SECOND
    raise TypeError(
        f"{what}: expected a datetime, date, pandas.Timestamp, numpy.datetime64 or time string, "
        f"got {type(value).__name__}"
    )


def _is_time(value: Any) -> bool:
    if isinstance(value, (_dt.datetime, _dt.date)):
        return True
    np = sys.modules.get("numpy")
    return np is not None and isinstance(value, np.datetime64)


def _value(value: Any) -> Any:
    """A filter value as ``None | bool | int | float | str | TimeValue``, each bound exactly as in Rust."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        # As text, which the core parses exactly into the column's DECIMAL(p, s) (a float would round).
        return str(value)
    if _is_time(value):
        return _quantdal.TimeValue(int(_time_ns(value, "where")))
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.generic):
        return _value(value.item())
    raise TypeError(
        f"cannot use a {type(value).__name__} as a filter value "
        "(use None, bool, int, float, str, Decimal, datetime, date or pandas.Timestamp)"
    )


def _values(value: Any, what: str) -> List[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"{what} takes a sequence of values, got {type(value).__name__}")
    return [_value(v) for v in value]


def _where(where: Optional[Where]) -> List[Union[str, Tuple[str, str, List[Any]]]]:
    if where is None:
        return []
    items: Iterable[Any] = [where] if isinstance(where, (str, tuple)) else where
    out: List[Union[str, Tuple[str, str, List[Any]]]] = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
            continue
        if not isinstance(item, tuple) or len(item) not in (2, 3):
            raise TypeError(
                "a where item is a string like 'price > 10.5' or a tuple (column, op, value), "
                f"got {item!r}"
            )
        column, op = item[0], item[1]
        if not isinstance(column, str) or not isinstance(op, str):
            raise TypeError(f"a where tuple starts with (column, op) strings, got {item!r}")
        key = " ".join(op.lower().split())
        if len(item) == 2:
            values: List[Any] = []
        elif key in _NULL_OPS and item[2] is None:
            values = []
        elif key in ("in", "between"):
            values = _values(item[2], f"`{op}`")
        else:
            values = [_value(item[2])]
        out.append((column, op, values))
    return out


def _strings(value: Any, what: str) -> Optional[List[str]]:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    out = list(value)
    for v in out:
        if not isinstance(v, str):
            raise TypeError(f"{what} takes strings, got {type(v).__name__}")
    return out


def _columns(columns: Any) -> Optional[List[str]]:
    if isinstance(columns, str):
        # The CLI's --columns form: "ts,price,volume".
        return [c.strip() for c in columns.split(",")]
    return _strings(columns, "columns")


def _tags(tags: Optional[Mapping[str, Any]]) -> Optional[List[Tuple[str, List[Any]]]]:
    if tags is None:
        return None
    out = []
    for column, values in tags.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            values = [values]
        out.append((column, [_value(v) for v in values]))
    return out


def _query(
    start: Optional[TimeLike] = None,
    end: Optional[TimeLike] = None,
    symbols: Union[str, Iterable[str], None] = None,
    columns: Union[str, Iterable[str], None] = None,
    where: Optional[Where] = None,
    order: str = "asc",
    limit: Optional[int] = None,
    tags: Optional[Mapping[str, Any]] = None,
    as_of: Optional[TimeLike] = None,
) -> Dict[str, Any]:
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise TypeError(f"limit takes an int, got {type(limit).__name__}")
        limit = max(limit, 0)  # 0 and below: the core's "limit must be at least 1"
    if not isinstance(order, str):
        raise TypeError(f"order takes 'asc', 'desc' or 'unordered', got {type(order).__name__}")
    return {
        "start": None if start is None else _time_ns(start, "start"),
        "end": None if end is None else _time_ns(end, "end"),
        "symbols": _strings(symbols, "symbols"),
        "tags": _tags(tags),
        "columns": None if columns is None else _columns(columns),
        "where": _where(where),
        "order": order,
        "limit": limit,
        "as_of": None if as_of is None else _time_ns(as_of, "as_of"),
    }


# --------------------------------------------------------------------------------------------------------
# data in and out
# --------------------------------------------------------------------------------------------------------


def _is_pandas(data: Any) -> bool:
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(data, pd.DataFrame)


def _from_pandas(df: "pandas.DataFrame") -> "pyarrow.Table":
    import pyarrow as pa

    # A named index (a DatetimeIndex called "ts", a MultiIndex of symbol and ts) is data; an unnamed one
    # (RangeIndex, or what filtering left) is row numbering and is dropped.
    keep_index = any(name is not None for name in df.index.names)
    return pa.Table.from_pandas(df, preserve_index=keep_index)


def _to_pandas(table: "pyarrow.Table", dtype_backend: Optional[str]) -> "pandas.DataFrame":
    import pandas as pd

    mapper: Optional[Callable[[Any], Any]] = None
    if dtype_backend == "pyarrow":
        mapper = pd.ArrowDtype  # zero-copy: the frame's columns are the Arrow buffers
    elif dtype_backend == "numpy_nullable":
        import pyarrow as pa

        nullable = {
            pa.int8(): pd.Int8Dtype(),
            pa.int16(): pd.Int16Dtype(),
            pa.int32(): pd.Int32Dtype(),
            pa.int64(): pd.Int64Dtype(),
            pa.float32(): pd.Float32Dtype(),
            pa.float64(): pd.Float64Dtype(),
            pa.bool_(): pd.BooleanDtype(),
            pa.string(): pd.StringDtype(),
        }
        mapper = nullable.get
    elif dtype_backend not in (None, "numpy"):
        raise ValueError(f"dtype_backend is None, 'numpy_nullable' or 'pyarrow', not {dtype_backend!r}")
    # self_destruct frees each Arrow column once converted, so the peak is about one frame plus one column,
    # not two frames. Safe: nothing else holds this table.
    return table.to_pandas(self_destruct=True, split_blocks=True, types_mapper=mapper)


def _to_polars(table: "pyarrow.Table") -> "polars.DataFrame":
    import polars as pl

    return pl.from_arrow(table)  # type: ignore[return-value]


def _frame(columns: "Tuple[pyarrow.Schema, List[pyarrow.Array]]", into: str,
           dtype_backend: Optional[str] = None) -> Any:
    """A load's ``(schema, one array per column)`` (``_Dal.load_columns``) as a DataFrame. Each array was
    exported on its own, so dropping one frees it: the peak is about one frame plus a column, not the
    Arrow result plus the frame (docs/benchmarks.md, "Python")."""
    import pyarrow as pa

    schema, arrays = columns
    if into == "pandas":
        table = pa.Table.from_arrays(arrays, schema=schema)
        arrays.clear()
        return _to_pandas(table, dtype_backend)
    import polars as pl

    series = []
    for field in schema:
        series.append(pl.Series(field.name, arrays.pop(0)))
    return pl.DataFrame(series)


def _check_into(into: str) -> None:
    if into not in ("arrow", "pyarrow", "pandas", "polars"):
        raise ValueError(f"into is 'arrow', 'pandas' or 'polars', not {into!r}")


def _convert(table: "pyarrow.Table", into: str, dtype_backend: Optional[str] = None) -> Any:
    if into in ("arrow", "pyarrow"):
        return table
    if into == "pandas":
        return _to_pandas(table, dtype_backend)
    if into == "polars":
        return _to_polars(table)
    raise ValueError(f"into is 'arrow', 'pandas' or 'polars', not {into!r}")


_open_dals: "weakref.WeakSet[Dal]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    # Monitoring records still queued when the process ends would be lost; flush them the way
    # `dal.close().await` does in Rust.
    for dal in list(_open_dals):
        try:
            dal.close()
        except Exception:  # noqa: BLE001 - never fail interpreter shutdown
            pass


class Dal:
    """The data-access layer: the classes of a table config and the stores they route to.

    Open one with :meth:`open` or :meth:`embedded`; use it from any number of threads. Close it (or use it
    as a context manager) to flush monitoring records and release the embedded file — one process at a
    time may hold an embedded DuckDB file.
    """

    __slots__ = ("_native", "__weakref__")

    def __init__(self, native: Any) -> None:
        """Internal: use :meth:`Dal.open` or :meth:`Dal.embedded`."""
        self._native = native
        _open_dals.add(self)

    # ---- opening and closing --------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Union[str, "os.PathLike[str]", None] = None, *, read_only: bool = False) -> "Dal":
        """Opens the stores of a ``quantdal.yaml``.

        With no ``path``, the CLI's resolution: ``$QUANTDAL_CONFIG``, else ``./config/quantdal.yaml`` when it
        exists, else an embedded store in ``./data`` with the built-in classes. ``read_only`` opens embedded
        files read-only, so several reader processes can share a file no writer holds.

        Raises :class:`ConfigError` (file missing or invalid), :class:`LockedError` (the embedded file is held
        by another process), :class:`UnavailableError` (a server cannot be reached).
        """
        return cls(_quantdal.Dal.open(None if path is None else str(path), read_only))

    @classmethod
    def embedded(cls, dir: Union[str, "os.PathLike[str]"] = "data", *, read_only: bool = False) -> "Dal":
        """Every built-in class in one embedded DuckDB file, ``dir/quantdal.duckdb`` (created if missing)."""
        return cls(_quantdal.Dal.embedded(str(dir), read_only))

    def close(self) -> None:
        """Flushes monitoring, stops its writer and releases the stores. Idempotent; later calls on this
        ``Dal`` raise ``ValueError``. A monitoring store that is away is only a warning: its records wait in
        the spill file for the next run."""
        note = self._native.close()
        _open_dals.discard(self)
        if note:
            warnings.warn(f"quantdal: monitoring records kept for the next run: {note}", stacklevel=2)

    def flush(self) -> None:
        """Waits until every monitoring record made so far is in the monitoring store."""
        self._native.flush()

    @property
    def closed(self) -> bool:
        return bool(self._native.is_closed())

    def __enter__(self) -> "Dal":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return repr(self._native)

    # ---- catalog -------------------------------------------------------------------------------------

    def classes(self) -> List[ClassInfo]:
        """Every data class: category, store, kind, table."""
        return [ClassInfo(**c) for c in self._native.classes()]

    def schema(self, cls: str) -> "pyarrow.Schema":
        """The class's Arrow schema: what :meth:`load` returns with every column (timestamps in UTC)."""
        return self._native.schema(cls)

    def provision(self) -> List[ProvisionEntry]:
        """Creates every missing table and reports, per class, created / already present / drift.
        Idempotent."""
        return [ProvisionEntry(**e) for e in self._native.provision()]

    # ---- writing -------------------------------------------------------------------------------------

    def save(
        self,
        cls: str,
        data: Any,
        *,
        naive: Literal["error", "utc"] = "error",
        timestamp_format: Optional[str] = None,
    ) -> SaveReport:
        """Upserts ``data`` into ``cls``: validated against the class first, then all rows or none; safe to
        retry (an upsert on the class key).

        ``data`` is anything with the Arrow PyCapsule interface — ``pyarrow.Table`` / ``RecordBatch`` /
        ``RecordBatchReader``, ``polars.DataFrame`` — or a ``pandas.DataFrame`` (through pyarrow; a named
        index is saved as columns), or a dict of columns. Arrow memory is read in place (zero-copy); a source
        of several chunks is joined into one batch first (one copy), because a save is one atomic batch.
        Columns may come in any order; missing nullable columns are filled with nulls.

        ``naive``: what a ``TIMESTAMP`` column without a time zone means — ``"error"`` (the default, an
        :class:`InvalidBatchError` naming the column) or ``"utc"``. ``timestamp_format`` (chrono syntax, e.g.
        ``"%Y-%m-%d %H:%M:%S"``) lets string columns be parsed as UTC timestamps.

        Raises :class:`UnknownClassError`, :class:`UnknownColumnError` (a column the class does not declare),
        :class:`InvalidBatchError` (with ``.column`` and ``.row``: nulls, types, duplicate keys, lengths).
        """
        if naive not in ("error", "utc"):
            raise ValueError(f"naive is 'error' or 'utc', not {naive!r}")
        if _is_pandas(data):
            data = _from_pandas(data)
        elif isinstance(data, dict):
            import pyarrow as pa

            data = pa.table(data)
        report = self._native.save(cls, data, naive == "utc", timestamp_format)
        return SaveReport(**report)

    def delete(
        self,
        cls: str,
        start: Optional[TimeLike] = None,
        end: Optional[TimeLike] = None,
        symbols: Union[str, Iterable[str], None] = None,
        where: Optional[Where] = None,
        *,
        tags: Optional[Mapping[str, Any]] = None,
    ) -> int:
        """Deletes the rows matching a range, symbols, tags or ``where`` (at least one is required: use
        :meth:`truncate` to remove everything). Returns the number of rows deleted."""
        return self._native.delete(cls, _query(start, end, symbols, None, where, "asc", None, tags))

    def truncate(self, cls: str) -> int:
        """Deletes every row of ``cls``; returns how many there were."""
        return self._native.truncate(cls)

    # ---- reading -------------------------------------------------------------------------------------

    @overload
    def load(
        self,
        cls: str,
        start: Optional[TimeLike] = ...,
        end: Optional[TimeLike] = ...,
        symbols: Union[str, Iterable[str], None] = ...,
        columns: Union[str, Iterable[str], None] = ...,
        where: Optional[Where] = ...,
        order: str = ...,
        limit: Optional[int] = ...,
        *,
        tags: Optional[Mapping[str, Any]] = ...,
        as_of: Optional[TimeLike] = ...,
        into: Literal["arrow"] = ...,
    ) -> "pyarrow.Table": ...

    @overload
    def load(
        self,
        cls: str,
        start: Optional[TimeLike] = ...,
        end: Optional[TimeLike] = ...,
        symbols: Union[str, Iterable[str], None] = ...,
        columns: Union[str, Iterable[str], None] = ...,
        where: Optional[Where] = ...,
        order: str = ...,
        limit: Optional[int] = ...,
        *,
        tags: Optional[Mapping[str, Any]] = ...,
        as_of: Optional[TimeLike] = ...,
        into: Literal["pandas"],
    ) -> "pandas.DataFrame": ...

    @overload
    def load(
        self,
        cls: str,
        start: Optional[TimeLike] = ...,
        end: Optional[TimeLike] = ...,
        symbols: Union[str, Iterable[str], None] = ...,
        columns: Union[str, Iterable[str], None] = ...,
        where: Optional[Where] = ...,
        order: str = ...,
        limit: Optional[int] = ...,
        *,
        tags: Optional[Mapping[str, Any]] = ...,
        as_of: Optional[TimeLike] = ...,
        into: Literal["polars"],
    ) -> "polars.DataFrame": ...

    def load(
        self,
        cls: str,
        start: Optional[TimeLike] = None,
        end: Optional[TimeLike] = None,
        symbols: Union[str, Iterable[str], None] = None,
        columns: Union[str, Iterable[str], None] = None,
        where: Optional[Where] = None,
        order: str = "asc",
        limit: Optional[int] = None,
        *,
        tags: Optional[Mapping[str, Any]] = None,
        as_of: Optional[TimeLike] = None,
        into: str = "arrow",
    ) -> Any:
        """Rows of ``cls`` with ``start <= time < end``, as a ``pyarrow.Table`` (``into="pandas"`` /
        ``"polars"`` for a DataFrame).

        ``symbols`` filters the ``symbol`` tag (``tags={"frequency": ["1m"]}`` any other tag); ``columns``
        projects (a list, or ``"ts,price"``); ``where`` is one predicate or a list of them, ANDed — CLI
        grammar strings (``"price > 10.5"``) or ``(column, op, value)`` tuples — each value coerced exactly to
        its column's type and bound as a parameter, never spliced into SQL; ``order`` is ``"asc"`` (by series
        then time, the default), ``"desc"`` or ``"unordered"``; ``limit`` caps the rows. ``as_of`` (versioned
        classes, ``versions:`` in table_config.yaml) reads each key as it was known at that instant.

        Raises :class:`UnknownClassError`, :class:`UnknownColumnError`, :class:`InvalidQueryError`.
        """
        _check_into(into)
        q = _query(start, end, symbols, columns, where, order, limit, tags, as_of)
        if into in ("arrow", "pyarrow"):
            return self._native.load(cls, q)
        return _frame(self._native.load_columns(cls, q), into)

    def load_pandas(
        self,
        cls: str,
        start: Optional[TimeLike] = None,
        end: Optional[TimeLike] = None,
        symbols: Union[str, Iterable[str], None] = None,
        columns: Union[str, Iterable[str], None] = None,
        where: Optional[Where] = None,
        order: str = "asc",
        limit: Optional[int] = None,
        *,
        tags: Optional[Mapping[str, Any]] = None,
        as_of: Optional[TimeLike] = None,
        dtype_backend: Optional[Literal["numpy", "numpy_nullable", "pyarrow"]] = None,
    ) -> "pandas.DataFrame":
        """:meth:`load` into a ``pandas.DataFrame``: timestamps ``datetime64[unit, UTC]``, decimals as
        ``Decimal`` objects. With numpy dtypes (the default) an integer column holding nulls becomes float64
        with NaN; ``dtype_backend="numpy_nullable"`` keeps ``Int64`` with ``<NA>``, ``"pyarrow"`` gives
        ``ArrowDtype`` columns that share the Arrow memory (no copy). The frame is built a column at a time,
        so the peak stays near one frame (docs/python.md, "Data out")."""
        q = _query(start, end, symbols, columns, where, order, limit, tags, as_of)
        if dtype_backend == "pyarrow":
            # The frame's columns are the store's Arrow buffers: nothing to copy, so nothing to rebuild.
            return _to_pandas(self._native.load(cls, q), dtype_backend)
        return _frame(self._native.load_columns(cls, q), "pandas", dtype_backend)

    def load_polars(
        self,
        cls: str,
        start: Optional[TimeLike] = None,
        end: Optional[TimeLike] = None,
        symbols: Union[str, Iterable[str], None] = None,
        columns: Union[str, Iterable[str], None] = None,
        where: Optional[Where] = None,
        order: str = "asc",
        limit: Optional[int] = None,
        *,
        tags: Optional[Mapping[str, Any]] = None,
        as_of: Optional[TimeLike] = None,
    ) -> "polars.DataFrame":
        """:meth:`load` into a ``polars.DataFrame`` (timestamps ``Datetime(unit, "UTC")``)."""
        q = _query(start, end, symbols, columns, where, order, limit, tags, as_of)
        return _frame(self._native.load_columns(cls, q), "polars")

    def load_batches(
        self,
        cls: str,
        start: Optional[TimeLike] = None,
        end: Optional[TimeLike] = None,
        symbols: Union[str, Iterable[str], None] = None,
        columns: Union[str, Iterable[str], None] = None,
        where: Optional[Where] = None,
        order: str = "asc",
        limit: Optional[int] = None,
        *,
        tags: Optional[Mapping[str, Any]] = None,
        as_of: Optional[TimeLike] = None,
    ) -> "pyarrow.RecordBatchReader":
        """:meth:`load` as a streaming ``pyarrow.RecordBatchReader``, for results too large to hold at once.

        Batches are pulled from the store as the reader is read (a few read ahead), with the GIL released
        while waiting; dropping the reader cancels the rest of the read. The request is checked and the
        first batch read before this returns, so a bad request raises :class:`Error` here; a failure later
        in the stream (a server going away) surfaces from the reader as a pyarrow error whose text starts
        with the quantdal error kind.
        """
        return self._native.load_batches(
            cls, _query(start, end, symbols, columns, where, order, limit, tags, as_of)
        )

    def latest(
        self,
        cls: str,
        symbols: Union[str, Iterable[str], None] = None,
        columns: Union[str, Iterable[str], None] = None,
        where: Optional[Where] = None,
        *,
        start: Optional[TimeLike] = None,
        end: Optional[TimeLike] = None,
        tags: Optional[Mapping[str, Any]] = None,
        as_of: Optional[TimeLike] = None,
        into: str = "arrow",
    ) -> Any:
        """The newest row of each series (after filters), as a ``pyarrow.Table`` or ``into`` a DataFrame;
        ``as_of`` (versioned classes) as known at that instant."""
        q = _query(start, end, symbols, columns, where, "asc", None, tags, as_of)
        table = self._native.latest(cls, q)
        return _convert(table, into)

    def kline(
        self,
        cls: str,
        interval: str,
        start: Optional[TimeLike] = None,
        end: Optional[TimeLike] = None,
        symbols: Union[str, Iterable[str], None] = None,
        where: Optional[Where] = None,
        order: str = "asc",
        limit: Optional[int] = None,
        *,
        tags: Optional[Mapping[str, Any]] = None,
        as_of: Optional[TimeLike] = None,
        into: str = "arrow",
    ) -> Any:
        """OHLCV bars of ``interval`` (``"1m"``, ``"5m"``, ``"1h"``, ``"1d"``, …) computed in the store from the
        class's ticks or finer bars: series columns, the bar start time, open / high / low / close, volume,
        amount, count. Bars hold ``[start, start + width)``. ``"ticks:N"``, ``"volume:V"`` and ``"dollar:D"``
        give information-driven bars, with each bar's ``first_time`` and ``last_time``. ``as_of`` (versioned
        classes) computes the bars from the rows as known at that instant."""
        table = self._native.kline(
            cls, interval, _query(start, end, symbols, None, where, order, limit, tags, as_of)
        )
        return _convert(table, into)

    def history(
        self,
        cls: str,
        start: Optional[TimeLike] = None,
        end: Optional[TimeLike] = None,
        symbols: Union[str, Iterable[str], None] = None,
        columns: Union[str, Iterable[str], None] = None,
        where: Optional[Where] = None,
        *,
        tags: Optional[Mapping[str, Any]] = None,
        as_of: Optional[TimeLike] = None,
        into: str = "arrow",
    ) -> Any:
        """Every revision of the keys of a versioned class that the filters select, in key then knowledge
        order, with ``_known_at`` (when the revision became known, UTC) and ``_deleted`` (a tombstone). The
        range and ``where`` apply to each revision; ``as_of`` keeps the revisions known by then."""
        q = _query(start, end, symbols, columns, where, "asc", None, tags, as_of)
        return _convert(self._native.history(cls, q), into)

    def count(self, cls: str) -> int:
        """Rows currently held for ``cls``."""
        return self._native.count(cls)

    def subscribe(
        self,
        cls: str,
        symbols: Union[str, Iterable[str], None] = None,
        columns: Union[str, Iterable[str], None] = None,
        where: Optional[Where] = None,
        *,
        tags: Optional[Mapping[str, Any]] = None,
    ) -> "pyarrow.RecordBatchReader":
        """The rows saved to ``cls`` from now on (by any process) whose series match, as an endless
        ``pyarrow.RecordBatchReader`` (iterate it in a thread of its own). Needs the class on Redis or in
        the latest-row cache; elsewhere raises :class:`UnsupportedError`."""
        return self._native.subscribe(cls, _query(None, None, symbols, columns, where, "asc", None, tags))
