"""A loaded, validated and compiled policy bundle: what the evaluator and planner consume."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from patchpolicy.errors import Diagnostic, Location
from patchpolicy.model.exceptions import ExceptionSet, PolicyException
from patchpolicy.model.policy import Freeze, PatchPolicy, Ring, Rule, Window
from patchpolicy.model.policytest import PolicyTest

if TYPE_CHECKING:
    from patchpolicy.expr import CompiledExpression


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    when: CompiledExpression
    where: Location


@dataclass(frozen=True)
class CompiledWindow:
    window: Window
    hosts: CompiledExpression | None
    where: Location


@dataclass(frozen=True)
class CompiledFreeze:
    freeze: Freeze
    hosts: CompiledExpression | None
    allow: CompiledExpression | None
    where: Location


@dataclass(frozen=True)
class CompiledRing:
    ring: Ring
    hosts: CompiledExpression
    where: Location


@dataclass(frozen=True)
class CompiledPolicy:
    policy: PatchPolicy
    where: Location
    scope: CompiledExpression | None
    rules: tuple[CompiledRule, ...]
    windows: tuple[CompiledWindow, ...] = ()
    freezes: tuple[CompiledFreeze, ...] = ()
    rings: tuple[CompiledRing, ...] = ()

    @property
    def name(self) -> str:
        return self.policy.metadata.name

    @property
    def version(self) -> str:
        return self.policy.metadata.version


@dataclass(frozen=True)
class CompiledException:
    exception: PolicyException
    exception_set: ExceptionSet
    match: CompiledExpression
    where: Location

    @property
    def id(self) -> str:
        return self.exception.id


@dataclass(frozen=True)
class SourceFile:
    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Bundle:
    """Every policy, exception and test of a bundle, sorted by id; the files it came from."""

    policies: tuple[CompiledPolicy, ...]
    exceptions: tuple[CompiledException, ...]
    tests: tuple[tuple[PolicyTest, Location], ...]
    files: tuple[SourceFile, ...]
    warnings: tuple[Diagnostic, ...] = field(default=())

    def policy(self, name: str) -> CompiledPolicy:
        """The policy called ``name`` (KeyError if none): a dict lookup, since renderers
        and the validate summary ask once per policy or item (10^4 policies, issue 12 #8)."""
        return self._policies_by_name[name]

    def has_policy(self, name: str) -> bool:
        return name in self._policies_by_name

    def policy_index(self, name: str) -> int:
        """Where policy ``name`` stands in ``policies`` (KeyError if absent)."""
        return self._policy_order[name]

    @cached_property
    def _policy_order(self) -> dict[str, int]:
        return {p.name: i for i, p in enumerate(self.policies)}

    @cached_property
    def policy_names(self) -> tuple[str, ...]:
        """Every policy's name, in bundle order."""
        return tuple(p.name for p in self.policies)

    def exceptions_for(self, policy: str) -> list[CompiledException]:
        """The exceptions that name ``policy`` or name none (apply to all), in bundle
        order: from an index built once, not a scan of every exception per policy."""
        every, named = self._exceptions_index
        mine = named.get(policy, [])
        indices = sorted(mine + every) if every and mine else (mine or every)
        return [self.exceptions[i] for i in indices]

    def exception_count(self, set_name: str) -> int:
        """How many exceptions the ExceptionSet ``set_name`` holds."""
        return self._exceptions_per_set[set_name]

    def test(self, name: str) -> PolicyTest | None:
        """The PolicyTest called ``name``, or None."""
        return self._tests_by_name.get(name)

    # Indexes built on first use (cached_property writes the instance dict directly, so
    # the dataclass stays frozen; they are not fields: equality and repr ignore them).
    @cached_property
    def _policies_by_name(self) -> dict[str, CompiledPolicy]:
        return {p.name: p for p in self.policies}

    @cached_property
    def _exceptions_index(self) -> tuple[list[int], dict[str, list[int]]]:
        every: list[int] = []
        named: dict[str, list[int]] = {}
        for i, e in enumerate(self.exceptions):
            if e.exception.policies is None:
                every.append(i)
            else:
                for name in dict.fromkeys(e.exception.policies):
                    named.setdefault(name, []).append(i)
        return every, named

    @cached_property
    def _exceptions_per_set(self) -> Counter[str]:
        return Counter(e.exception_set.metadata.name for e in self.exceptions)

    @cached_property
    def _tests_by_name(self) -> dict[str, PolicyTest]:
        named: dict[str, PolicyTest] = {}
        for t, _ in self.tests:
            named.setdefault(t.metadata.name, t)
        return named
