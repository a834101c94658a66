"""``dealpulse bench``: measured targets, written to docs/BENCHMARKS.md."""
