"""The evidence store: evaluations kept as history in SQLite or PostgreSQL, recorded once
and in any order, read back as lifecycles and period reports (docs/history.md)."""

from patchpolicy.store.engine import ENV_VAR, Store, StoreError, open_store, resolve_url
from patchpolicy.store.record import RecordResult, record_bundle

__all__ = ["ENV_VAR", "RecordResult", "Store", "StoreError", "open_store", "record_bundle",
           "resolve_url"]
