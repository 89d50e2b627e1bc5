"""Gold stage: training sets through the shared transforms, the reference model, LLM datasets."""

__all__: list[str] = []
