"""The terminal report of a test run: a line per case (failures with their diff), a
summary, and on request the coverage and what no test exercises."""

from __future__ import annotations

from patchpolicy.review.testing.results import TARGET_KINDS, TestRun


def format_report(run: TestRun, *, coverage: bool = False, min_coverage: float | None = None,
                  quiet: bool = False) -> str:
    """Terminal text: a line per case (failures with their diff), a summary, and with
    ``coverage`` the coverage lines and what no test exercises. ``quiet``: failing cases
    only (and the summary)."""
    lines: list[str] = []
    current: str | None = None
    for c in run.cases:
        if quiet and c.passed:
            continue
        header = f'{c.where.file}: test "{c.test}"'
        if header != current:
            lines.append(header)
            current = header
        if c.passed:
            lines.append(f"  PASS {c.case} ({c.expectations} expectation{'s' if c.expectations != 1 else ''})")
            continue
        lines.append(f"  FAIL {c.case}")
        lines.extend(f"    {f}" for f in c.failures)
    passed = len(run.cases) - len(run.failed)
    total_exp = sum(c.expectations for c in run.cases)
    lines.append(
        f"{len(run.cases)} case{'s' if len(run.cases) != 1 else ''} in {run.files} file"
        f"{'s' if run.files != 1 else ''} ({total_exp} expectations): "
        f"{passed} passed, {len(run.failed)} failed"
    )
    if coverage or min_coverage is not None:
        lines.extend(_coverage_lines(run, min_coverage))
    lines.append("PASS" if run.exit_code(min_coverage) == 0 else "FAIL")
    return "\n".join(lines) + "\n"


def _coverage_lines(run: TestRun, min_coverage: float | None) -> list[str]:
    cov = run.coverage
    done, total = cov.counts()
    kinds = ", ".join(
        f"{kind}s {d}/{n}" for kind in TARGET_KINDS for d, n in [cov.counts(kind)]
    )
    lines = [f"coverage: {done}/{total} ({cov.percent:.1f}%): {kinds}"]
    missing = cov.missing()
    if missing:
        lines.append("not exercised by any test:")
        lines.extend(f"  {t}" for t in missing)
    unknown = run.unknown_targets
    if unknown:
        lines.append("tests without rules (expectations naming what does not exist):")
        lines.extend(f"  {f}" for f in unknown)
    if run.below(min_coverage):
        lines.append(f"coverage {cov.percent:.1f}% is below the minimum {min_coverage:g}%")
    return lines
