"""Parity stage: the deploy gate (sampling, replay in a serving process, comparison, bisection, report)
and serving skew measured on what serving logged."""

__all__: list[str] = []
