"""Performance harness: each benchmark measures skewguard next to its limit in the same run."""
