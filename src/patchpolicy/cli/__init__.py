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
from patchpolicy.cli.output import error_format_option, quiet_option

# Every command takes --quiet and --error-format too (also accepted before the command).
for _command in main.commands.values():
    _command.params.extend([quiet_option(), error_format_option()])

__all__ = ["FAIL_ON", "ExitCode", "handle_errors", "main"]
