"""Open a store from a URL: a SQLite file (a plain path or ``sqlite:///path``; WAL mode,
writers wait on a lock then fail clearly) or PostgreSQL (``postgresql://...``, through
psycopg 3; writers serialise on a transaction-level advisory lock).

``PATCHPOLICY_STORE`` gives the URL when no ``--store`` is given.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from patchpolicy.errors import InputError
from patchpolicy.store.schema import SchemaError, migrate

ENV_VAR = "PATCHPOLICY_STORE"
#: Seconds a SQLite writer waits for another writer before failing.
SQLITE_BUSY_TIMEOUT_S = 30.0
#: Key of the PostgreSQL advisory lock that serialises writers of one store.
_PG_LOCK_KEY = 0x70617463  # "patc"


class StoreError(InputError):
    """A store that cannot be opened, read or written (exit 2): the message says which."""


@dataclass(frozen=True)
class StoreLocation:
    """A parsed store URL, with the text to show (passwords masked)."""

    url: str
    shown: str
    dialect: str
    sqlite_path: Path | None = None


def resolve_url(given: str | None) -> StoreLocation:
    """The store URL given, or ``PATCHPOLICY_STORE``; a plain path is a SQLite file."""
    raw = given if given else os.environ.get(ENV_VAR, "")
    if not raw:
        raise StoreError(f"no store: give --store URL or set {ENV_VAR}")
    if "://" not in raw:
        path = Path(raw)
        return StoreLocation(f"sqlite:///{path}", str(path), "sqlite", path)
    try:
        u = make_url(raw)
    except ArgumentError as e:
        raise StoreError(f"{raw}: not a store URL: {e}") from e
    backend = u.get_backend_name()
    if backend == "sqlite":
        if not u.database or u.database == ":memory:":
            raise StoreError(f"{raw}: a SQLite store needs a file path (sqlite:///path)")
        return StoreLocation(raw, raw, "sqlite", Path(u.database))
    if backend == "postgresql":
        if u.get_driver_name() not in ("psycopg", "postgresql"):
            raise StoreError(f"{u.render_as_string(hide_password=True)}: use postgresql:// or "
                             "postgresql+psycopg:// (psycopg 3)")
        url = u.set(drivername="postgresql+psycopg")
        return StoreLocation(url.render_as_string(hide_password=False),
                             url.render_as_string(hide_password=True), "postgresql")
    raise StoreError(f"{u.render_as_string(hide_password=True)}: unsupported store "
                     f"{backend!r}: use a file path, sqlite:///path or postgresql://...")


def _sqlite_engine(loc: StoreLocation, create: bool) -> Engine:
    assert loc.sqlite_path is not None
    if not create and not loc.sqlite_path.is_file():
        raise StoreError(f"{loc.shown}: no such store")
    if create and not loc.sqlite_path.parent.is_dir():
        raise StoreError(f"{loc.shown}: directory {loc.sqlite_path.parent} does not exist")
    engine = create_engine(loc.url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Transactions are begun by hand (BEGIN IMMEDIATE below), not by the driver.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A writer takes the write lock at once: two writers never both read, then one
        # fails to upgrade; the second waits (busy timeout) for the first.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@dataclass
class Store:
    """An open store: ``write()`` and ``read()`` give a connection in one transaction."""

    location: StoreLocation
    engine: Engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction, serialised with every other writer of the store."""
        try:
            with self.engine.begin() as conn:
                if self.location.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
                yield conn
        except OperationalError as e:
            raise _operational(self.location, e) from e

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as e:
            raise _operational(self.location, e) from e

    def close(self) -> None:
        self.engine.dispose()


def _operational(loc: StoreLocation, e: OperationalError) -> StoreError:
    msg = str(e.orig) if e.orig is not None else str(e)
    if loc.dialect == "sqlite" and "locked" in msg:
        return StoreError(
            f"{loc.shown}: the store is locked by another writer (waited "
            f"{SQLITE_BUSY_TIMEOUT_S:.0f}s); nothing was written: retry later, or use a "
            "PostgreSQL store for concurrent pipelines"
        )
    return StoreError(f"{loc.shown}: {msg.strip().splitlines()[0] if msg.strip() else e}")


def open_store(given: str | None, *, create: bool = False) -> Store:
    """Open (with ``create``, create or migrate) the store at URL ``given`` or
    ``PATCHPOLICY_STORE``; raises StoreError when it cannot be used."""
    loc = resolve_url(given)
    if loc.dialect == "sqlite":
        engine = _sqlite_engine(loc, create)
    else:
        try:
            import psycopg  # noqa: F401
        except ImportError as e:
            raise StoreError(f"{loc.shown}: PostgreSQL stores need psycopg 3: "
                             "pip install 'patchpolicy[postgres]'") from e
        engine = create_engine(loc.url)
    store = Store(loc, engine)
    try:
        with store.write() as conn:
            if create:
                migrate(conn)
            else:
                from patchpolicy.store.schema import SCHEMA_VERSION, current_version

                found = current_version(conn)
                if found is None:
                    raise StoreError(f"{loc.shown}: empty database: not a patchpolicy store "
                                     "(record a bundle to create one)")
                if found != SCHEMA_VERSION:
                    migrate(conn)
    except SchemaError as e:
        store.close()
        raise StoreError(f"{loc.shown}: {e}") from e
    except StoreError:
        store.close()
        raise
    except SQLAlchemyError as e:
        store.close()
        raise StoreError(f"{loc.shown}: cannot open the store: {e}") from e
    return store
