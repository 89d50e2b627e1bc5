"""Silver stage: bronze parsed into typed silver.predictions and silver.llm_interactions; delayed labels
joined into silver.labeled_examples."""

__all__: list[str] = []
