"""Load policy files into typed, compiled bundles; every problem points at file:line:col.

Layers, each collecting every problem it finds before stopping:

1. structure (``files``, ``yaml_source``): files found with the symlink rule and read
   within limits; YAML/JSON syntax (ruamel.yaml round-trip), duplicate keys, aliases,
   nesting and tags refused, one mapping per document;
2. schema (``schema_errors``): a known ``apiVersion``/``kind``, then the pydantic model of
   the kind; each error's ``loc`` is mapped back to the YAML node it came from
   (``positions``);
3. expressions (``compile``): every CEL expression compiled once, fields checked against
   the snapshot model, the column inside the expression mapped into the file;
4. semantics across the bundle (``semantics``, one function per check): unique ids, time
   order, exception lifetimes, references.

``bundle`` runs them (``check_bundle``, ``load_bundle``); ``snapshots`` sends fleet
snapshots given among the files to the snapshot reader. A directory is a bundle of every
``*.yaml``, ``*.yml`` and ``*.json`` under it.
"""

from patchpolicy.loader.bundle import check_bundle, load_bundle
from patchpolicy.loader.compile import HOST, HOST_FINDING
from patchpolicy.loader.files import (
    MAX_POLICY_FILE,
    STDIN,
    STDIN_NAME,
    SUFFIXES,
    discover,
    discover_checked,
)
from patchpolicy.loader.positions import SourceDocument, expression_location
from patchpolicy.loader.schema_errors import KINDS, validate_document
from patchpolicy.loader.snapshots import SnapshotSummary
from patchpolicy.loader.yaml_source import (
    MAX_ALIASES,
    MAX_EXPANDED_NODES,
    MAX_YAML_DEPTH,
    read_documents,
)

__all__ = [
    "HOST",
    "HOST_FINDING",
    "KINDS",
    "MAX_ALIASES",
    "MAX_EXPANDED_NODES",
    "MAX_POLICY_FILE",
    "MAX_YAML_DEPTH",
    "STDIN",
    "STDIN_NAME",
    "SUFFIXES",
    "SnapshotSummary",
    "SourceDocument",
    "check_bundle",
    "discover",
    "discover_checked",
    "expression_location",
    "load_bundle",
    "read_documents",
    "validate_document",
]
