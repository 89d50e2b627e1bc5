"""The operator layer: what a person runs around the jobs — the `skewguard` command, the demo loop,
synthetic logs and labels, the loader, the bronze summary and bundle builds."""

__all__: list[str] = []
