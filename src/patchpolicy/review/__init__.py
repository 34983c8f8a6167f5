"""Review tooling for policy changes: policy tests, semantic diff and impact analysis."""
