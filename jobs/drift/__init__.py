"""Drift stage: reference profiles, the histogram pass, the metrics run against a profile, its sources
and its HTML report."""

__all__: list[str] = []
