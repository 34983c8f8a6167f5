"""Who ran an evaluation, and from which commit of the policies: read by the command line
only (the evaluator never reads the environment), recorded in evidence.json's
``render_options`` so that ``verify`` remakes the files that state it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["RUN_BY_ENV", "ci_run", "policy_commit"]

#: Set it to say who or what ran the evaluation when no known CI variable does.
RUN_BY_ENV = "PATCHPOLICY_RUN_BY"


def ci_run(env: Mapping[str, str] | None = None) -> str | None:
    """The run's URL (or name) from the CI's own variables: GitHub Actions, GitLab CI,
    Jenkins, Azure Pipelines, CircleCI, Buildkite; ``PATCHPOLICY_RUN_BY`` first."""
    e = os.environ if env is None else env
    if e.get(RUN_BY_ENV):
        return e[RUN_BY_ENV]
    if e.get("GITHUB_RUN_ID") and e.get("GITHUB_REPOSITORY"):
        server = e.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{e['GITHUB_REPOSITORY']}/actions/runs/{e['GITHUB_RUN_ID']}"
    for name in ("CI_PIPELINE_URL", "BUILD_URL", "CIRCLE_BUILD_URL", "BUILDKITE_BUILD_URL"):
        if e.get(name):
            return e[name]
    if e.get("SYSTEM_COLLECTIONURI") and e.get("BUILD_BUILDID"):
        return f"{e['SYSTEM_COLLECTIONURI']}{e.get('SYSTEM_TEAMPROJECT', '')}/_build/results?buildId={e['BUILD_BUILDID']}"
    return None


def policy_commit(paths: Sequence[str | Path]) -> str | None:
    """The git commit the first policy path is at, ``+dirty`` when a policy path has
    uncommitted changes; None outside a git work tree or without git."""
    if not paths:
        return None
    first = Path(paths[0])
    where = first if first.is_dir() else first.parent
    try:
        head = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=False)
        if head.returncode != 0:
            return None
        status = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--",
                                 *(str(Path(p).resolve()) for p in paths)],
                                capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = head.stdout.strip()
    return commit + ("+dirty" if status.returncode == 0 and status.stdout.strip() else "")
