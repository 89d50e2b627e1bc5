"""Stage 9, evaluation: candidate models scored on the traffic that was served (LLM: the eval
split of ``gold.llm_datasets`` against the logged production responses)."""
