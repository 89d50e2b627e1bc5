"""Evaluate stage: candidate models scored on the traffic that was served, next to production."""
