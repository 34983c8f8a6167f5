"""The store tests run on SQLite everywhere and on PostgreSQL where
PATCHPOLICY_TEST_PG_URL names a server (an admin URL: one database is created and dropped
per test). Under CI (CI set) a missing URL fails the run instead of skipping."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_helpers import StoreMaker, pg_admin_url


@pytest.fixture(params=["sqlite", "postgresql"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreMaker]:
    """A maker of empty store URLs, once per backend."""
    maker = StoreMaker(request.param, tmp_path)
    if request.param == "postgresql":
        pg_admin_url()
    try:
        yield maker
    finally:
        maker.close()


@pytest.fixture()
def store_url(make_store: StoreMaker) -> str:
    """The URL of an empty store, once per backend."""
    return make_store()
