"""Local servers and simulated annotators for testing annotation pipelines
offline (used by this package's own tests, demo and benchmarks)."""
