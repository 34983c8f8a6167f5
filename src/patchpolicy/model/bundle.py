"""A loaded, validated and compiled policy bundle: what the evaluator and planner consume."""

from __future__ import annotations

from dataclasses import dataclass, field
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
        for p in self.policies:
            if p.name == name:
                return p
        raise KeyError(name)
