"""keygen: key pairs for signing evidence bundles."""

from __future__ import annotations

import click

from patchpolicy.cli.common import (
    handle_errors,
    main,
)
from patchpolicy.cli.output import info


@main.command()
@click.option("-o", "--out", "prefix", required=True, metavar="PREFIX",
              help="Write PREFIX.key.pem (private, mode 0600) and PREFIX.pub.pem (public).")
@click.option("--type", "key_type", type=click.Choice(["ed25519", "ecdsa-p256"]),
              default="ed25519", show_default=True, help="Signature algorithm.")
@handle_errors
def keygen(prefix: str, key_type: str) -> None:
    """Make a key pair for signing evidence bundles (evaluate --sign, verify --key).

    The private key is encrypted with PATCHPOLICY_KEY_PASSWORD when that is set; existing
    files are never overwritten. Exits 0, or 2 on bad input.

    \b
    Examples:
      patchpolicy keygen -o release
      PATCHPOLICY_KEY_PASSWORD=... patchpolicy keygen -o release --type ecdsa-p256
    """
    from patchpolicy.attest import PASSWORD_ENV, KeyType, load_public_key, write_keypair

    private, public, encrypted = write_keypair(prefix, KeyType(key_type))
    how = f"encrypted with ${PASSWORD_ENV}" if encrypted else f"NOT encrypted: set {PASSWORD_ENV}"
    info(f"wrote {private} (private, {how})")
    info(f"wrote {public} (public: give it to auditors; {load_public_key(public).describe()})")
