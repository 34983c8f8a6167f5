"""The configuration file: defaults for command-line options, flags always winning.

``patchpolicy.toml`` in the working directory or the nearest parent that has one, or the
``[tool.patchpolicy]`` table of the nearest ``pyproject.toml`` that has it (a directory's
patchpolicy.toml comes before its pyproject.toml). Top-level keys are defaults shared by
the commands they fit; a table per command (``[check]``) sets that command's options::

    policies = ["policies"]          # -p (validate and test: PATHS) where a bundle is needed
    snapshot = "fleet.json"          # -s for check, evaluate, explain and plan (a list of
                                     # JSON Lines shards: check and evaluate)
    fail-on = ["due_soon"]           # --fail-on for check and evaluate
    store = ".patchpolicy/store"     # --store, for the commands that have one
    error-format = "text"            # --error-format

    [check]
    format = "sarif"

Relative paths are relative to the file's directory. Keys are option names (``fail-on``
or ``fail_on``); an unknown key or command, or a value the option refuses, is an error
(exit 2) naming the file and line. The values become click's ``default_map``, so any
option given on the command line replaces the configured value (lists included).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import click

from patchpolicy.cli.output import ERROR_FORMAT, QUIET, ErrorFormat

CONFIG_FILE = "patchpolicy.toml"
PYPROJECT = "pyproject.toml"

SHARED_OPTIONAL = frozenset({"fail-on", "store"})
"""Top-level keys that also fill options a command does not require (elsewhere a
top-level key fills only required options: `verify -s` or `windows -s` change what the
command does, so they are set in the command's own table)."""
GROUP_KEYS = frozenset({"error-format", "quiet"})
BUNDLE_ARGUMENT = {"validate": "paths", "test": "paths"}
"""Commands whose policy bundle is a positional argument, filled from ``policies``."""
RESERVED = frozenset({"store"})
"""Top-level keys for commands that may be absent from this build (the history store)."""


class ConfigError(click.ClickException):
    """An invalid configuration file: bad input, exit 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def find_config(start: Path) -> tuple[Path, dict[str, Any]] | None:
    """The nearest configuration at or above ``start``: (file, its patchpolicy table)."""
    for d in (start, *start.parents):
        candidate = d / CONFIG_FILE
        if candidate.is_file():
            candidate = Path(_relative(candidate))  # for messages: as short as it can be
            return candidate, _read(candidate)
        pyproject = d / PYPROJECT
        if pyproject.is_file():
            pyproject = Path(_relative(pyproject))
            table = _read(pyproject).get("tool", {}).get("patchpolicy")
            if table is not None:
                if not isinstance(table, dict):
                    raise ConfigError(f"{pyproject}: [tool.patchpolicy] must be a table")
                return pyproject, table
    return None


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read configuration: {e}") from e
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)$", str(e))
        end = re.search(r"\(at end of document\)$", str(e))
        if m:
            where = f"{path}:{m.group(1)}:{m.group(2)}"
        elif end:
            lines = text.splitlines() or [""]
            where = f"{path}:{len(lines)}:{len(lines[-1]) + 1}"
        else:
            where = str(path)
        cut = m or end
        reason = str(e)[: cut.start()].strip() if cut else str(e)
        raise ConfigError(f"{where}: invalid TOML: {reason[:1].lower()}{reason[1:]}") from e


def _key_place(path: Path, key: str, table: str | None) -> str:
    """``file:line:col`` of ``key`` (in ``[table]`` when given), or the file alone."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return str(path)
    prefix = "tool.patchpolicy" if path.name == PYPROJECT else ""
    wanted = ".".join(p for p in (prefix, table) if p) or None
    current: str | None = None
    for n, line in enumerate(lines, 1):
        header = re.match(r"\s*\[([^\]]+)\]\s*$", line)
        if header:
            current = header.group(1).strip()
            continue
        m = re.match(rf"(\s*)[\"']?{re.escape(key)}[\"']?\s*=", line)
        if m and current == wanted:
            return f"{path}:{n}:{len(m.group(1)) + 1}"
    return str(path)


def _table_place(path: Path, name: str) -> str:
    """``file:line:col`` of the ``[name]`` header (``[tool.patchpolicy.name]`` in pyproject)."""
    full = f"tool.patchpolicy.{name}" if path.name == PYPROJECT else name
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return str(path)
    for n, line in enumerate(lines, 1):
        m = re.match(r"(\s*)\[\s*([^\]]+?)\s*\]\s*$", line)
        if m and m.group(2) == full:
            return f"{path}:{n}:{len(m.group(1)) + 1}"
    return str(path)


def _option_of(command: click.Command, key: str) -> click.Parameter | None:
    flag = "--" + key.replace("_", "-")
    for param in command.params:
        if isinstance(param, click.Option) and flag in param.opts:
            return param
    return None


def _fits(param: click.Parameter, key: str) -> bool:
    if param.required:
        return True
    if key not in SHARED_OPTIONAL:
        return False
    if key == "fail-on":
        from patchpolicy.cli.common import FAIL_ON

        choices = getattr(param.type, "choices", None)
        return choices is not None and set(choices) == set(FAIL_ON)
    return True


def _value(path: Path, param: click.Parameter, value: Any) -> Any:
    """A TOML value as click would take it from the command line (paths relative to the file)."""
    values = value if isinstance(value, list) else [value]
    if isinstance(param.type, click.Path):
        base = path.parent
        values = [v if not isinstance(v, str) or v == "-" or os.path.isabs(v)
                  else _relative(base / v) for v in values]
    if param.multiple or param.nargs != 1:
        return values
    if isinstance(value, list):
        raise ValueError("takes one value, not a list")
    return values[0]


def _relative(p: Path) -> str:
    try:
        return os.path.relpath(p)
    except ValueError:  # another drive (Windows)
        return str(p)


def build_default_map(path: Path, table: dict[str, Any], group: click.Group,
                      ctx: click.Context) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """(click default_map, group-level settings) from a configuration table."""
    commands = group.commands
    shared: dict[str, Any] = {}
    per_command: dict[str, dict[str, Any]] = {}
    group_settings: dict[str, Any] = {}
    for raw_key, value in table.items():
        key = raw_key.replace("_", "-")
        if isinstance(value, dict):
            if raw_key not in commands:
                raise ConfigError(f"{_table_place(path, raw_key)}: unknown command "
                                  f"[{raw_key}] (commands: {', '.join(sorted(commands))})")
            per_command[raw_key] = value
        elif key in GROUP_KEYS:
            group_settings[key] = value
        elif key in RESERVED or any(_option_of(c, key) is not None for c in commands.values()):
            shared[key] = value
        else:
            raise ConfigError(f"{_key_place(path, raw_key, None)}: unknown key {raw_key!r}")
    default_map: dict[str, dict[str, Any]] = {}
    for name, command in commands.items():
        entries: dict[str, Any] = {}
        for key, value in shared.items():
            param = _option_of(command, key)
            if param is not None and param.name and _fits(param, key):
                entries[param.name] = (path, key, None, param, value)
            elif key == "policies" and name in BUNDLE_ARGUMENT:
                # validate and test take the bundle as PATHS: `patchpolicy validate` alone
                # checks the configured bundle.
                argument = next(p for p in command.params if p.name == BUNDLE_ARGUMENT[name])
                entries[argument.name or ""] = (path, key, None, argument, value)
        for raw_key, value in per_command.get(name, {}).items():
            key = raw_key.replace("_", "-")
            param = _option_of(command, key)
            if param is None or not param.name:
                raise ConfigError(f"{_key_place(path, raw_key, name)}: [{name}] has no option "
                                  f"--{key}")
            entries[param.name] = (path, raw_key, name, param, value)
        default_map[name] = entries
    return default_map, group_settings


def _checked(entries: dict[str, Any], ctx: click.Context) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (path, key, table, param, value) in entries.items():
        try:
            converted = _value(path, param, value)
            param.type_cast_value(ctx, converted)
        except (ValueError, click.BadParameter) as e:
            message = e.format_message() if isinstance(e, click.BadParameter) else str(e)
            message = re.sub(r"^Invalid value for '[^']*': ", "", message)
            raise ConfigError(f"{_key_place(path, key, table)}: {key}: {message}") from e
        out[name] = converted
    return out


def apply_config(ctx: click.Context, explicit: Path | None, disabled: bool) -> None:
    """Find and apply the configuration for the command about to run."""
    if disabled:
        return
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"{explicit}: no such configuration file")
        data = _read(explicit)
        if explicit.name == PYPROJECT:
            data = data.get("tool", {}).get("patchpolicy", {})
        found: tuple[Path, dict[str, Any]] | None = (explicit, data)
    else:
        found = find_config(Path.cwd())
    if found is None:
        return
    path, table = found
    assert isinstance(ctx.command, click.Group)
    default_map, settings = build_default_map(path, table, ctx.command, ctx)
    sub = ctx.invoked_subcommand
    if sub is not None and sub in default_map:
        ctx.default_map = {sub: _checked(default_map[sub], ctx)}
    if "error-format" in settings and ERROR_FORMAT not in ctx.meta:
        value = settings["error-format"]
        if value not in {f.value for f in ErrorFormat}:
            raise ConfigError(f"{_key_place(path, 'error-format', None)}: error-format: "
                              f"{value!r} is not one of text, json, github")
        ctx.meta[ERROR_FORMAT] = ErrorFormat(value)
    if settings.get("quiet") is True:
        ctx.meta[QUIET] = True
    ctx.meta["patchpolicy.config"] = path
