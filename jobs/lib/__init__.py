"""Plumbing every stage uses: the job skeleton and its arguments, the Spark session, the day window,
Delta I/O, run records, column checks and table upkeep."""

__all__: list[str] = []
