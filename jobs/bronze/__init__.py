"""Bronze stage: serving logs read from Elasticsearch land in bronze.serving_logs (and bronze.quarantine)."""

__all__: list[str] = []
