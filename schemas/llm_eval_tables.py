"""LLM evaluation tables: what ``evaluate_llm`` measured of a candidate model on the eval split
of ``gold.llm_datasets`` (the logged production response as the reference), per workload and
per tool, and the outcome of every record."""

from __future__ import annotations

from schemas.core import Column, TableSchema

__all__ = ["METRICS_LLM_EVALUATIONS", "METRICS_LLM_EVALUATION_RECORDS"]

_RUN = (
    Column("run_id", "string", "the `evaluate_llm` run (see `metrics.job_runs`)", False),
    Column("evaluated_at", "timestamp", "when the run started (UTC)", False),
    Column("workload_id", "string", "the workload", False),
    Column("workload_type", "string", "`tool_calling` or `generic`, as `gold.llm_datasets` has it", False),
)
_CANDIDATE = (
    Column("candidate_source", "string", "`endpoint` (asked over HTTP) or `jsonl` (read from a file)", False),
    Column(
        "argument_mode",
        "string",
        "how tool calls were compared: `name_only`, `name_and_args` or `required_args`",
        False,
    ),
)
_TOOL_DOC = "the function the reference (the logged production response) calls first; `__none__`: no call"

METRICS_LLM_EVALUATIONS = TableSchema(
    name="metrics.llm_evaluations",
    doc=(
        "One row per `evaluate_llm` run × workload × tool group: how a candidate model's answers to the eval "
        "records' requests compare with the logged production responses. `tool = '*'` is the whole workload; "
        "the other rows group records by the tool the production response calls first. Accuracies and F1 are "
        "over all records (an unanswered record counts as wrong); the call/no-call counts, tokens and latencies "
        "over the answered ones. Tool-call metrics are null for generic workloads, text metrics for "
        "tool-calling ones. Every run appends its rows; its records are in `metrics.llm_evaluation_records`."
    ),
    columns=(
        *_RUN,
        Column("tool", "string", f"`*` for the whole workload, else {_TOOL_DOC}", False),
        *_CANDIDATE,
        Column("candidate_model", "string", "the model asked (endpoint) or the one most responses name (jsonl)"),
        Column("candidate_uri", "string", "the endpoint's base URL or the responses file", False),
        Column("dataset_version", "long", "Delta version of `gold.llm_datasets` read", False),
        Column("dataset_build_run_id", "string", "the `build_llm_datasets` run that wrote the eval records", False),
        Column("records", "long", "eval records", False),
        Column("answered", "long", "records the candidate answered with a chat completion", False),
        Column("errors", "long", "records without an answer after the retries (timeouts, HTTP errors, …)", False),
        Column("retried", "long", "records that needed more than one attempt", False),
        Column(
            "function_name_accuracy",
            "double",
            "share of records whose multiset of called function names equals the reference's (tool-calling)",
        ),
        Column(
            "function_name_and_args_accuracy",
            "double",
            "share of records whose multiset of calls equals the reference's, calls compared by `argument_mode` "
            "(tool-calling)",
        ),
        Column(
            "ref_call_cand_call", "long", "answered records: the reference calls a tool and the candidate too", False
        ),
        Column("ref_call_cand_none", "long", "answered records: the reference calls a tool, the candidate none", False),
        Column("ref_none_cand_call", "long", "answered records: the reference calls no tool, the candidate one", False),
        Column("ref_none_cand_none", "long", "answered records: neither calls a tool", False),
        Column("invalid_argument_calls", "long", "candidate calls whose arguments are not a JSON object", False),
        Column("exact_match", "double", "share of records whose normalised answer equals the reference's (generic)"),
        Column("token_f1", "double", "mean token-level F1 of the normalised answer against the reference's (generic)"),
        Column("prompt_tokens", "long", "sum of the candidate's `usage.prompt_tokens` (null: none reported)"),
        Column("completion_tokens", "long", "sum of the candidate's `usage.completion_tokens`"),
        Column("total_tokens", "long", "sum of the candidate's `usage.total_tokens`"),
        Column("latency_p50_ms", "double", "median latency of the answering attempt (ms)"),
        Column("latency_p90_ms", "double", "90th percentile of that latency (ms)"),
        Column("latency_p99_ms", "double", "99th percentile of that latency (ms)"),
        Column("latency_max_ms", "double", "largest latency (ms)"),
        Column(
            "extra_scores", "map<string,double>", "further scorers (e.g. a judge): name → mean over the records scored"
        ),
        Column("report_path", "string", "folder with `report.html` and `responses.jsonl`", False),
        Column(
            "details_json", "string", "errors by kind, the scorers and (endpoint runs) the client's settings, as JSON"
        ),
    ),
    partition_by=(),
)

METRICS_LLM_EVALUATION_RECORDS = TableSchema(
    name="metrics.llm_evaluation_records",
    doc=(
        "One row per `evaluate_llm` run × eval record: the reference and candidate answers side by side (calls "
        "and content), whether and how the candidate answered (attempts, latency, tokens) and the record's "
        "scores, for inspection of what `metrics.llm_evaluations` aggregates. The request is the record's "
        "eval line in `gold.llm_datasets` (same `event_id`). Every run appends its rows."
    ),
    columns=(
        *_RUN,
        Column("event_id", "string", "the record's `event_id` in `gold.llm_datasets`", False),
        Column("tool", "string", _TOOL_DOC, False),
        *_CANDIDATE,
        Column("status", "string", "`answered` or `error`", False),
        Column("error", "string", "why there is no answer (null when answered)"),
        Column("error_kind", "string", "`timeout`, `connection`, `http_<status>`, `invalid_response` or `missing`"),
        Column("attempts", "long", "requests sent for the record (0: read from a file that lacks it)", False),
        Column("latency_ms", "double", "wall time of the answering attempt (ms)"),
        Column("candidate_model", "string", "`model` of the candidate's response"),
        Column("finish_reason", "string", "the candidate's `choices[0].finish_reason`"),
        Column("prompt_tokens", "long", "the candidate's `usage.prompt_tokens`"),
        Column("completion_tokens", "long", "the candidate's `usage.completion_tokens`"),
        Column("total_tokens", "long", "the candidate's `usage.total_tokens`"),
        Column(
            "reference_calls_json", "string", "the reference's calls, `[{name, arguments}]` (arguments parsed)", False
        ),
        Column("candidate_calls_json", "string", "the candidate's calls, likewise (null: no answer)"),
        Column("reference_content", "string", "the reference's content as text"),
        Column("candidate_content", "string", "the candidate's content as text"),
        Column("reference_calls_tool", "boolean", "the reference calls a tool", False),
        Column("candidate_calls_tool", "boolean", "the candidate calls a tool (null: no answer)"),
        Column("function_name_match", "boolean", "the multisets of function names are equal (tool-calling)"),
        Column(
            "function_name_and_args_match",
            "boolean",
            "the multisets of calls are equal by `argument_mode` (tool-calling)",
        ),
        Column("invalid_argument_calls", "long", "candidate calls whose arguments are not a JSON object", False),
        Column("exact_match", "boolean", "normalised answers equal (generic)"),
        Column("token_f1", "double", "token-level F1 of the normalised answers (generic)"),
        Column("extra_scores", "map<string,double>", "further scorers' values (a scorer that did not score: absent)"),
        Column("candidate_response_json", "string", "the candidate's chat completion as it answered", payload=True),
    ),
    partition_by=(),
)
