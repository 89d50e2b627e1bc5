"""The settings of each section of ``conf/*.yaml``: one typed model per top-level key;
:mod:`skewguard.config` composes them into ``Settings`` and loads them (import them from there)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from skewguard.es_roles import EsRoles

__all__ = [
    "DRIFT_METRIC_NAMES",
    "DriftSettings",
    "ElasticsearchSettings",
    "IngestSettings",
    "LakehouseSettings",
    "LlmSettings",
    "MaintenanceSettings",
    "ParitySettings",
    "SettingsModel",
    "SparkSettings",
    "Thresholds",
    "TrainingSettings",
    "url_without_credentials",
]


class SettingsModel(BaseModel):
    """Base of every settings model: unknown keys fail, field docstrings document the key, values are frozen."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)


def url_without_credentials(url: str) -> str:
    """``url`` with any ``user:password@`` part replaced by ``***@``, for messages."""
    scheme, sep, rest = url.rpartition("://") if "://" in url else ("", "", url)
    netloc, slash, path = rest.partition("/")
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    return f"{scheme}{sep}{netloc}{slash}{path}"


class ElasticsearchSettings(SettingsModel):
    url: str = "http://localhost:9200"
    """Base URL of the cluster (env ``ELASTICSEARCH_URL``); ``https://`` turns TLS on."""
    index: str = "flywheel"
    """Index (or alias) holding the serving logs (env ``ES_COLLECTION_NAME``)."""
    username: SecretStr | None = None
    """Basic-auth user; environment only (``ES_USERNAME``)."""
    password: SecretStr | None = None
    """Basic-auth password; environment only (``ES_PASSWORD``); never logged."""
    api_key: SecretStr | None = None
    """API key (base64 ``id:key``), sent as ``Authorization: ApiKey``; env ``ES_API_KEY`` only."""
    ca_certs: Path | None = None
    """PEM file of the CA that signed the cluster's HTTP certificate (env ``ES_CA_CERTS``)."""
    roles: EsRoles = Field(default_factory=EsRoles)
    """Per-component credentials: writer, reader, admin (:mod:`skewguard.es_roles`)."""
    request_timeout_s: float = Field(default=30.0, gt=0)
    """Timeout of one HTTP request, seconds."""
    connect_retries: int = Field(default=5, ge=0)
    """How often a client retries an unreachable cluster before giving up (with backoff)."""
    scroll_size: int = Field(default=2000, ge=1, le=10000)
    """Hits per scroll request when Spark reads the index."""
    docs_per_partition: int = Field(default=200_000, ge=1000)
    """Slice size: one Spark partition reads at most this many documents."""
    daily_indices: bool = False
    """The logger and ``skewguard load`` write each record to its UTC day's index,
    ``<index>-YYYY.MM.DD``, created behind the alias ``<index>`` that every reader uses; then
    ``maintain_tables`` can delete whole days (``maintenance.es_retention_days``)."""

    @field_validator("url")
    @classmethod
    def _url_has_scheme(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https:// (got {url_without_credentials(value)!r})")
        if "@" in value.split("://", 1)[1].split("/", 1)[0]:
            raise ValueError(
                "must not hold credentials (user:password@host): set ES_USERNAME and ES_PASSWORD, "
                "or ES_API_KEY, in the environment"
            )
        return value.rstrip("/")

    @field_validator("index")
    @classmethod
    def _index_is_valid(cls, value: str) -> str:
        if not value or value != value.lower() or any(c in value for c in ' "*\\<|,>/?'):
            raise ValueError(f'not a valid index name: {value!r} (lower case, no spaces or */\\<>|,?")')
        return value

    @field_validator("ca_certs")
    @classmethod
    def _ca_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"CA file {value} does not exist")
        return value

    @property
    def use_tls(self) -> bool:
        return self.url.startswith("https://")

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        netloc = self.url.split("://", 1)[1].split("/", 1)[0]
        if ":" in netloc:
            return int(netloc.rsplit(":", 1)[1])
        return 443 if self.use_tls else 9200


class LakehouseSettings(SettingsModel):
    root: str = "lakehouse"
    """Root folder or URI (``s3a://…``, ``abfss://…``) of the Delta tables; a relative folder is
    under the checkout (env ``SKEWGUARD_LAKEHOUSE``)."""

    def table_path(self, name: str) -> str:
        """Location of a table named ``layer.table`` (e.g. ``bronze.serving_logs``)."""
        layer, _, table = name.partition(".")
        if not table:
            raise ValueError(f"table name must be layer.table, got {name!r}")
        return f"{self.root.rstrip('/')}/{layer}/{table}"


class SparkSettings(SettingsModel):
    master: str | None = "local[*]"
    """Spark master when Python starts Spark; ignored under ``spark-submit`` (its ``--master`` wins)."""
    driver_memory: str = "4g"
    """Driver heap when Python starts the JVM (notebooks, tests, plain ``python -m jobs...``)."""
    shuffle_partitions: int = Field(default=8, ge=1)
    """``spark.sql.shuffle.partitions``."""
    jars_manifest: Path = Path(".cache/jars/jars.txt")
    """File listing the Delta and ES-Hadoop jars (written by ``scripts/fetch_jars.sh``)."""
    extra_conf: dict[str, str] = Field(default_factory=dict)
    """Further Spark settings, applied as given."""


class TrainingSettings(SettingsModel):
    label_window_days: float = Field(default=7.0, gt=0)
    """A label counts for a prediction only when it arrives within this many days of it."""
    validation_fraction: float = Field(default=0.1, ge=0.0, lt=1.0)
    """Share of examples in the validation split (by a hash of ``event_id``)."""
    eval_fraction: float = Field(default=0.1, ge=0.0, lt=1.0)
    """Share of examples in the held-out evaluation split; the rest is ``train``."""
    split_seed: int = 0
    """Seed of the split hash; change it only to draw a different split on purpose."""
    quantile_accuracy: int = Field(default=10_000, ge=100)
    """Accuracy of Spark's ``percentile_approx`` when fitting quantile edges: an edge's rank
    is within ``n / quantile_accuracy`` of the exact one."""
    artifacts_dir: str = "artifacts"
    """Where fitted pipelines, training-set manifests and model bundles are written; relative
    to the lakehouse root unless absolute."""

    @field_validator("eval_fraction")
    @classmethod
    def _fractions_leave_train(cls, value: float, info: Any) -> float:
        if value + info.data.get("validation_fraction", 0.0) >= 1.0:
            raise ValueError("validation_fraction + eval_fraction must leave some examples for train")
        return value


class ParitySettings(SettingsModel):
    sample_size: int = Field(default=10_000, ge=1, le=1_000_000)
    """Examples the parity gate sends through the bundle (they are collected to the driver)."""
    tolerance: float = Field(default=1e-6, gt=0)
    """The gate passes when every output differs by less than this (absolute)."""
    batch_size: int = Field(default=256, ge=1)
    """Requests per call when the serving process is sent batches."""
    bisect_examples: int = Field(default=50, ge=1)
    """Failing examples (the worst first) traced stage by stage to find where the paths part."""
    worst_examples: int = Field(default=10, ge=1)
    """Examples listed in the report, largest difference first."""
    sample_seed: int = 0
    """Seed of the hash that draws the sample: the same seed draws the same examples."""
    skew_tolerance: float = Field(default=1e-6, gt=0)
    """``check_serving_skew``: a logged output differs when |logged − recomputed| reaches this."""


class IngestSettings(SettingsModel):
    max_source_drop_share: float = Field(default=0.0, ge=0.0, le=1.0)
    """``ingest_logs``: the share of a day × workload's bronze rows a run may delete because
    Elasticsearch no longer holds their documents (retention, rollover, deletion) while it still
    holds others of that day × workload. A larger drop refuses the whole run with one line;
    0 refuses any. A day × workload with no documents left is never emptied (``kept: source
    empty``). ``--allow-source-drop`` deletes either on purpose (e.g. an erasure request);
    bronze's retention is ``maintenance.retention_days``."""


class MaintenanceSettings(SettingsModel):
    optimize_days: int = Field(default=7, ge=0)
    """``maintain_tables`` compacts the partitions of the last N days of each day-partitioned
    table (older ones were compacted when they were recent); other tables are compacted whole."""
    vacuum_retention_hours: float = Field(default=168.0, ge=0)
    """Files no longer referenced for this long are deleted by ``VACUUM``. Below 168 h (Delta's
    safety default) a reader or writer still using an older version can fail: set it lower only
    when no job runs during upkeep."""
    retention_days: dict[str, int] = Field(default_factory=lambda: {"bronze.serving_logs": 90, "bronze.quarantine": 90})
    """Table → days of rows to keep (by ``event_date``); older rows are deleted (for storage and
    PII). Tables not listed keep everything."""

    es_retention_days: int | None = Field(default=None, ge=1)
    """Days of daily Elasticsearch indices (``<index>-YYYY.MM.DD``) to keep; ``maintain_tables``
    deletes older ones, but only a day that reconciles with bronze (every document landed in
    bronze or quarantine), and reports the days it kept. Unset: Elasticsearch keeps everything."""

    @field_validator("retention_days")
    @classmethod
    def _known_tables(cls, value: dict[str, int]) -> dict[str, int]:
        from schemas.tables import TABLES

        dated = {t.name for t in TABLES if "event_date" in t.column_names}
        unknown = sorted(set(value) - dated)
        if unknown:
            raise ValueError(f"no table with an event_date column named {unknown} (known: {sorted(dated)})")
        bad = {k: v for k, v in value.items() if v < 1}
        if bad:
            raise ValueError(f"retention must keep at least 1 day, got {bad}")
        return value


class LlmSettings(SettingsModel):
    max_tool_parameters: int = Field(default=32, ge=1)
    """``parse_logs``: a record whose tool call passes more arguments than this, or that offers
    a tool declaring more parameters, is quarantined (``too_many_tool_parameters``)."""
    min_response_chars: int = Field(default=1, ge=0)
    """``build_llm_datasets``: a record of a generic workload needs at least this many
    non-blank characters in its response's content to be used."""
    eval_size: int = Field(default=20, ge=0)
    """Records per workload held out in the ``eval`` split (stratified by the first tool called)."""
    val_ratio: float = Field(default=0.1, ge=0.0, lt=1.0)
    """Share of each workload's remaining records (after ``eval``) in the ``val`` split; the rest is ``train``."""
    min_records: int = Field(default=50, ge=1)
    """A workload needs at least this many records left after validation, quality filters and
    deduplication, else ``build_llm_datasets`` fails with its counts."""
    limit: int | None = Field(default=1000, ge=1)
    """At most this many records per workload are used (the Data Flywheel's
    ``data_split_config.limit``): after the filters and deduplication, the first ``limit`` in the
    order of a hash of ``event_id`` seeded with ``split_seed`` (a seeded random sample; the rest
    is counted as ``over_limit``); ``null``: no cap. Not below ``min_records``."""
    rare_tool_records: int = Field(default=5, ge=1)
    """A first tool called by fewer of a workload's records than this is stratified together
    with the other rare ones (``__rare__``)."""
    split_seed: int = 0
    """Seed of the hash that orders records within a stratum: the same seed gives the same split."""
    export_dir: str = "exports/llm_datasets"
    """Where the JSONL files are written (``<dir>/<workload>/{train,val}.jsonl`` in the chat
    fine-tuning shape, ``eval.jsonl`` in the evaluation shape); relative to the lakehouse root
    unless absolute or a URI."""

    @model_validator(mode="after")
    def _limit_not_below_min_records(self) -> LlmSettings:
        if self.limit is not None and self.limit < self.min_records:
            raise ValueError(f"limit ({self.limit}) must not be below min_records ({self.min_records})")
        return self


class Thresholds(SettingsModel):
    warn: float | None = Field(default=None, ge=0)
    """Status ``warn`` when the value (deltas: its absolute value) is above this."""
    alert: float | None = Field(default=None, ge=0)
    """Status ``alert`` when it is above this."""

    @model_validator(mode="after")
    def _warn_below_alert(self) -> Thresholds:
        if self.warn is not None and self.alert is not None and self.warn > self.alert:
            raise ValueError(f"warn ({self.warn}) must not be above alert ({self.alert})")
        return self


DRIFT_METRIC_NAMES = (
    "psi", "ks", "wasserstein_distance", "js_divergence", "js_distance", "hellinger_distance", "tv_distance",
    "l_infinity_distance", "chi_squared_test", "null_rate_delta", "count_delta",
)  # fmt: skip


def _check_metric_names(mapping: dict[str, Any]) -> None:
    unknown = sorted(set(mapping) - set(DRIFT_METRIC_NAMES))
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown} (known: {list(DRIFT_METRIC_NAMES)})")


def _default_thresholds() -> dict[str, Thresholds]:
    return {
        "psi": Thresholds(warn=0.1, alert=0.2),
        "ks": Thresholds(warn=0.05, alert=0.1),
        "js_distance": Thresholds(warn=0.1, alert=0.2),
        "null_rate_delta": Thresholds(warn=0.02, alert=0.1),
    }


class DriftSettings(SettingsModel):
    bins: int = Field(default=10, ge=2, le=100)
    """Quantile bins of a numeric feature for PSI (open-ended first and last, plus a null bin)."""
    fine_bins: int = Field(default=2048, ge=16, le=65536)
    """Fine quantile bins that bound KS: D_hi − D_lo is at most about one fine bin's share of
    the reference (2048 → ≈ 5e-4)."""
    top_k: int = Field(default=20, ge=1, le=1000)
    """Categories of a categorical feature with their own bin; the rest share ``__other__``."""
    max_known_categories: int = Field(default=10_000, ge=0)
    """Reference values beyond the top K remembered (as ``__other__``, not ``__unseen__``)."""
    epsilon: float = Field(default=1e-4, gt=0, lt=0.1)
    """PSI: an empty bin proportion is replaced by this."""
    quantile_accuracy: int = Field(default=20_000, ge=100)
    """Provisional reference edges (≥ 8 per fine bin) to pick the fine ones from: rank error ≈ rows / accuracy."""
    ks_mode: Literal["bounded", "exact"] = "bounded"
    """``bounded``: KS as [D_lo, D_hi] from the fine histograms, refined where a threshold
    falls inside; ``exact``: equal to scipy's ``ks_2samp`` statistic (a distributed walk of
    the bins that can hold the largest gap)."""
    ks_refine_above: int = Field(default=1_000_000, ge=0)
    """Exact KS: when more values than this lie inside the bins that can hold the largest gap,
    one pass first counts their sub-bins and only the sub-bins that still can are walked."""
    direct_read: bool = True
    """Tasks read the rows to bin straight from the Delta snapshot's Parquet files where they can
    (README, "Drift"), rather than through Spark's rows; ``false`` always reads through Spark."""
    alpha: float = Field(default=0.01, gt=0, lt=0.5)
    """Significance level of each feature's metrics: a metric warns or alerts only when it is
    past its threshold *and* past its noise floor, the value sampling noise alone exceeds with
    probability ``alpha`` at the window's counts (README, "Significant and material")."""
    alpha_correction: Literal["none", "bonferroni"] = "none"
    """``none``: ``alpha`` per feature (with F features, about F·alpha of them pass their floor by
    chance in a window without drift); ``bonferroni``: ``alpha / F`` per feature, so that the
    chance of any false flag in a workload × slice is at most ``alpha``."""
    metric_correction: Literal["none", "bonferroni"] = "bonferroni"
    """A feature is flagged when any of its metrics is. ``bonferroni``: each of the T distinct
    null tests behind its thresholded metrics (PSI, KS, JS, Hellinger, the χ² test with TV and
    L∞, the null-rate test) at the feature's level / T, so that a feature without drift is
    flagged with probability at most that level; ``none``: each at the feature's level (up to
    T times it per feature)."""
    drift_share: float = Field(default=0.5, gt=0, le=1)
    """The dataset verdict: a workload (or slice) is in alert when at least this share of its
    monitored features is in alert (Evidently's ``drift_share``); ``compute_drift --fail-on
    dataset`` gates on it."""
    trend_windows: int = Field(default=10, ge=2, le=100)
    """The report's trend charts: each feature's metric over this many last windows (of the
    same length, reference and ``drift_type``) from ``metrics.drift``."""
    slice_columns: list[str] = Field(default_factory=list)
    """Columns (of the current rows) to slice each workload by, e.g. ``model_version``; every
    slice is compared with the workload's reference as well as the whole workload."""
    outputs: list[str] = Field(default_factory=lambda: ["score"])
    """Model outputs (``outputs[<name>]`` of prediction rows) monitored as numeric features ``output.<name>``."""
    thresholds: dict[str, Thresholds] = Field(default_factory=_default_thresholds)
    """Metric → thresholds (metrics: psi, ks, wasserstein_distance, js_divergence, js_distance,
    hellinger_distance, tv_distance, l_infinity_distance, chi_squared_test, null_rate_delta,
    count_delta). A metric without thresholds is informational."""
    overrides: dict[str, dict[str, Thresholds]] = Field(default_factory=dict)
    """Feature (``<feature>`` or ``<workload>/<feature>``) → metric → thresholds replacing the defaults."""
    features: dict[str, dict[str, Literal["numeric", "categorical"]]] = Field(default_factory=dict)
    """Workload (or ``*``) → feature → type, for references read from a table (``--table``)
    where no training-set contract or table schema declares them; a feature is a column, or a
    logged feature id of a predictions table."""
    report_dir: str = "drift"
    """Where HTML reports go: ``<dir>/<run_id>/report.html``, relative to the artifacts folder
    unless absolute."""

    @field_validator("thresholds")
    @classmethod
    def _known_metrics(cls, value: dict[str, Thresholds]) -> dict[str, Thresholds]:
        _check_metric_names(value)
        return value

    @field_validator("overrides")
    @classmethod
    def _known_override_metrics(cls, value: dict[str, dict[str, Thresholds]]) -> dict[str, dict[str, Thresholds]]:
        for per_metric in value.values():
            _check_metric_names(per_metric)
        return value

    def thresholds_for(self, workload: str, feature: str, metric: str) -> Thresholds:
        """The thresholds of ``metric`` for a feature: its override, else the default."""
        for key in (f"{workload}/{feature}", feature):
            override = self.overrides.get(key, {}).get(metric)
            if override is not None:
                return override
        return self.thresholds.get(metric, Thresholds())
