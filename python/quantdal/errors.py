"""quantdal's exceptions: :class:`Error` and one subclass per error kind of the Rust API.

Every error carries what the Rust ``quantdal::Error`` carries::

    try:
        dal.save("tick_data", df)
    except quantdal.InvalidBatchError as e:
        print(e.kind, e.cls, e.column, e.row)   # invalid_batch tick_data price 7
    except quantdal.Error as e:                 # any other quantdal failure
        if e.temporary:
            ...                                 # the same call may succeed if retried

``str(e)`` is the one-line form the CLI prints, e.g.
``invalid_batch during save (class tick_data, column price, row 7): null in a non-null column``.

Arguments of the wrong Python type raise ``TypeError`` and a closed :class:`~quantdal.Dal` raises
``ValueError``, as elsewhere in Python; everything the data layer itself rejects is a :class:`Error`.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Type

__all__ = [
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


class Error(Exception):
    """Base class of every quantdal error.

    Attributes:
        kind: the error kind, as the Rust ``ErrorKind`` names it (``"invalid_batch"``, ``"locked"``, …).
        message: the reason alone, without kind and context.
        cls: the data class concerned, when there is one.
        column: the column concerned, when there is one.
        row: zero-based index of the first offending row of the caller's data, when there is one.
        file: the file concerned (a config file, an embedded store), when there is one.
        operation: ``"save"``, ``"load"``, … when known.
        temporary: True when retrying the same call unchanged may succeed (a write conflict, a store
            briefly away). Saves are idempotent upserts, so retrying a save is always safe.
    """

    kind: str = "error"

    def __init__(
        self,
        text: str,
        *,
        kind: Optional[str] = None,
        message: Optional[str] = None,
        cls: Optional[str] = None,
        column: Optional[str] = None,
        row: Optional[int] = None,
        file: Optional[str] = None,
        operation: Optional[str] = None,
        temporary: bool = False,
    ) -> None:
        super().__init__(text)
        if kind is not None:
            self.kind = kind
        self.message = message if message is not None else text
        self.cls = cls
        self.column = column
        self.row = row
        self.file = file
        self.operation = operation
        self.temporary = temporary

    def __reduce__(self) -> Tuple[Any, ...]:  # picklable across processes (multiprocessing, joblib)
        return (
            _rebuild,
            (
                type(self),
                str(self),
                {
                    "kind": self.kind,
                    "message": self.message,
                    "cls": self.cls,
                    "column": self.column,
                    "row": self.row,
                    "file": self.file,
                    "operation": self.operation,
                    "temporary": self.temporary,
                },
            ),
        )


def _rebuild(klass: Type[Error], text: str, fields: Dict[str, Any]) -> Error:
    return klass(text, **fields)


class ConfigError(Error):
    """A configuration file is unreadable, malformed or inconsistent (or was not found)."""

    kind = "config"


class UnknownClassError(Error):
    """The data class is not declared in the table config."""

    kind = "unknown_class"


class UnknownColumnError(Error):
    """A column named by the caller (or present in the data) is not declared for the class."""

    kind = "unknown_column"


class InvalidBatchError(Error):
    """The data does not fit the class: columns, types, nulls, duplicate keys, timestamps without a zone."""

    kind = "invalid_batch"


class InvalidQueryError(Error):
    """A load request (range, tags, predicates, interval, order, limit) is malformed for the class."""

    kind = "invalid_query"


class LockedError(Error):
    """The embedded store's file is held by another process (DuckDB allows one writer process per file)."""

    kind = "locked"


class UnavailableError(Error):
    """The store could not be reached or opened. Usually temporary."""

    kind = "unavailable"


class ConflictError(Error):
    """Two writers collided; the call can be retried as a whole. Temporary."""

    kind = "conflict"


class StoreError(Error):
    """The store rejected the operation (constraint, type, statement)."""

    kind = "store"


class UnsupportedError(Error):
    """The operation or store kind is not supported by this build or by the class's store."""

    kind = "unsupported"


class IoError(Error):
    """Reading or writing a local file failed."""

    kind = "io"


#: Error class by kind name.
KINDS: Dict[str, Type[Error]] = {
    c.kind: c
    for c in (
        ConfigError,
        UnknownClassError,
        UnknownColumnError,
        InvalidBatchError,
        InvalidQueryError,
        LockedError,
        UnavailableError,
        ConflictError,
        StoreError,
        UnsupportedError,
        IoError,
    )
}
