"""Every test runs without the CI's identity and without git detection of the policy
commit, so outputs that state who ran them do not depend on where the suite runs."""

from __future__ import annotations

import pytest

CI_VARIABLES = ("PATCHPOLICY_RUN_BY", "GITHUB_RUN_ID", "GITHUB_REPOSITORY", "GITHUB_SERVER_URL",
                "CI_PIPELINE_URL", "BUILD_URL", "CIRCLE_BUILD_URL", "BUILDKITE_BUILD_URL",
                "SYSTEM_COLLECTIONURI", "BUILD_BUILDID")


@pytest.fixture(autouse=True)
def _no_ci_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATCHPOLICY_POLICY_COMMIT", "")
