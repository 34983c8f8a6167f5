"""The outcome of policy tests: a failure, a case's result, the coverage targets and
what the cases exercised, the whole run and its exit code."""

from __future__ import annotations

from dataclasses import dataclass, field

from patchpolicy.errors import Location

TargetKind = str
"""``rule``, ``window``, ``freeze`` or ``exception``."""
TARGET_KINDS: tuple[TargetKind, ...] = ("rule", "window", "freeze", "exception")


@dataclass(frozen=True)
class Failure:
    """One expectation that does not hold (or a case that could not be judged)."""

    where: Location
    message: str
    unknown_target: bool = False
    """True when the expectation names a policy, host or finding that does not exist."""

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case of one PolicyTest."""

    test: str
    case: str
    where: Location
    expectations: int
    failures: tuple[Failure, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class Target:
    """Something a test should exercise: a rule, window, freeze or exception."""

    kind: TargetKind
    policy: str | None
    id: str
    where: Location
    label: str = ""

    def __str__(self) -> str:
        owner = f'policy "{self.policy}": ' if self.policy else self.label
        return f'{self.where}: {owner}{self.kind} "{self.id}"'


Key = tuple[str, str, str, str]
"""(kind, resolved file, policy name or "", id)."""


@dataclass
class Coverage:
    """Every target found and the keys of those some case exercised."""

    targets: dict[Key, Target] = field(default_factory=dict)
    exercised: set[Key] = field(default_factory=set)

    def add(self, key: Key, target: Target) -> None:
        self.targets.setdefault(key, target)

    def counts(self, kind: TargetKind | None = None) -> tuple[int, int]:
        """(exercised, total) over one kind of target, or all of them."""
        keys = [k for k in self.targets if kind is None or k[0] == kind]
        return sum(1 for k in keys if k in self.exercised), len(keys)

    @property
    def percent(self) -> float:
        """Exercised targets in percent; 100 when there is nothing to exercise."""
        done, total = self.counts()
        return 100.0 if total == 0 else 100.0 * done / total

    def missing(self) -> list[Target]:
        """Targets no case exercised, sorted by place."""
        return sorted(
            (t for k, t in self.targets.items() if k not in self.exercised),
            key=lambda t: (t.where, t.kind, t.id),
        )


@dataclass
class TestRun:
    """Every case result, in file and case order, and the coverage of all of them."""

    __test__ = False  # not a pytest class

    cases: list[CaseResult]
    coverage: Coverage
    files: int

    @property
    def failed(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.passed]

    @property
    def unknown_targets(self) -> list[Failure]:
        """Expectations naming a policy, host or finding that does not exist."""
        return [f for c in self.cases for f in c.failures if f.unknown_target]

    def below(self, min_coverage: float | None) -> bool:
        return min_coverage is not None and self.coverage.percent + 1e-9 < min_coverage

    def exit_code(self, min_coverage: float | None = None) -> int:
        """0 when every case passes (and coverage reaches ``min_coverage``), else 1."""
        return 1 if self.failed or self.below(min_coverage) else 0
