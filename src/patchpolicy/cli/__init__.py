"""The ``patchpolicy`` command: thin click wrappers that parse options, call the API and map
errors to exit codes (see ``ExitCode``). Nothing here decides a verdict.
"""

from patchpolicy.cli import (  # noqa: F401  (register)
    authoring,
    evidence,
    history,
    importing,
    keys,
    planning,
)
from patchpolicy.cli.common import FAIL_ON, ExitCode, handle_errors, main

__all__ = ["FAIL_ON", "ExitCode", "handle_errors", "main"]
