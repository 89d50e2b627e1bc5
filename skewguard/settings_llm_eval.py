"""The ``llm_eval`` section of ``conf/*.yaml``: how ``evaluate_llm`` reaches a candidate model
and scores its answers against the logged production responses.

Composed into ``Settings`` by :mod:`skewguard.config`; import it from there.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from skewguard.settings_models import SettingsModel, url_without_credentials

__all__ = ["ARGUMENT_MODES", "LlmEvalSettings"]

#: how a candidate's tool call is compared with the production one (see ``jobs.evaluate.llm_scoring``)
ARGUMENT_MODES = ("name_only", "name_and_args", "required_args")


class LlmEvalSettings(SettingsModel):
    base_url: str | None = None
    """Base URL of the candidate's OpenAI-compatible API, up to ``/v1`` (e.g.
    ``http://127.0.0.1:8000/v1``; env ``SKEWGUARD_LLM_EVAL_URL``); ``--base-url`` overrides it."""
    model: str | None = None
    """Model name sent in every request instead of the logged one (env ``SKEWGUARD_LLM_EVAL_MODEL``)."""
    api_key: SecretStr | None = None
    """Bearer key of the endpoint; environment only (``SKEWGUARD_LLM_EVAL_API_KEY``). Without it the
    literal ``EMPTY`` is sent, which endpoints without authentication (vLLM, NIM locally) accept."""
    concurrency: int = Field(default=8, ge=1, le=256)
    """Requests in flight at once."""
    requests_per_second: float | None = Field(default=None, gt=0)
    """Most requests started per second, retries included, over the whole run (``null``: no limit)."""
    timeout_s: float = Field(default=60.0, gt=0)
    """Timeout of one request, seconds; a request that takes longer is a ``timeout`` (retried)."""
    max_retries: int = Field(default=2, ge=0, le=10)
    """Further attempts after a timeout, a connection error, 408, 409, 429 or 5xx; after the last
    one the record is counted as an error (it scores as wrong), the run goes on."""
    retry_backoff_s: float = Field(default=0.5, ge=0)
    """Wait before the first retry; doubled for each further one (a ``Retry-After`` header of at most
    ``retry_max_s`` is honoured instead)."""
    retry_max_s: float = Field(default=30.0, gt=0)
    """Longest wait between two attempts."""
    tool_choice: Literal["auto", "required", "none"] | None = None
    """``tool_choice`` to add to every request; ``null`` (the default): none, the request as logged.
    The Data Flywheel's evaluator sends ``required`` for tool-calling workloads, which hides
    whether the candidate would have answered without a call."""
    argument_mode: Literal["name_only", "name_and_args", "required_args"] = "name_and_args"
    """What makes a candidate's tool call equal to the production one: ``name_only`` (the function
    name), ``name_and_args`` (name and the arguments as parsed JSON) or ``required_args`` (name and
    the arguments the offered tool's schema lists as ``required``); ``--argument-mode`` overrides it."""
    max_records: int = Field(default=5000, ge=1)
    """Most eval records one run brings to the driver to send (the eval split holds
    ``llm.eval_size`` records per workload); more fail the run before any request is sent."""
    worst_records: int = Field(default=20, ge=0)
    """Records the report lists, worst first."""
    report_dir: str = "llm_evaluations"
    """Where reports go: ``<dir>/<run_id>/report.html`` and ``responses.jsonl``, relative to the
    artifacts folder unless absolute."""

    @field_validator("base_url")
    @classmethod
    def _url_is_http(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https:// (got {url_without_credentials(value)!r})")
        if "@" in value.split("://", 1)[1].split("/", 1)[0]:
            raise ValueError("must not hold credentials: set SKEWGUARD_LLM_EVAL_API_KEY in the environment")
        return value.rstrip("/")
