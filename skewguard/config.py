"""Typed configuration: ``conf/base.yaml`` + a profile overlay + environment overrides.

Load order (later wins): ``conf/base.yaml`` → ``conf/<profile>.yaml`` → environment.
Secrets (Elasticsearch user, password, API key; the LLM endpoint's key) come from the environment only: a YAML
file that sets one is rejected. A bad value fails at start-up with a one-line
:class:`ConfigError` naming the key and the reason. The model of each section (``elasticsearch``,
``lakehouse``, …) is in :mod:`skewguard.settings_models`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from skewguard.es_roles import ROLE_USES, EsRole
from skewguard.evaluation_settings import EvaluationSettings
from skewguard.settings_catalog import CatalogSettings
from skewguard.settings_llm_eval import LlmEvalSettings
from skewguard.settings_mlflow import MlflowSettings
from skewguard.settings_models import (
    DriftSettings,
    ElasticsearchSettings,
    IngestSettings,
    LakehouseSettings,
    LlmSettings,
    MaintenanceSettings,
    ParitySettings,
    SettingsModel,
    SparkSettings,
    TrainingSettings,
)
from skewguard.settings_serving import ServingSettings

__all__ = [
    "ENV_OVERRIDES",
    "ConfigError",
    "Settings",
    "load_settings",
    "repo_root",
]

SECRET_KEYS = ("username", "password", "api_key", "pii_key")

#: environment variable → dotted settings key
ENV_OVERRIDES: dict[str, str] = {
    "ELASTICSEARCH_URL": "elasticsearch.url",
    "ES_COLLECTION_NAME": "elasticsearch.index",
    "ES_USERNAME": "elasticsearch.username",
    "ES_PASSWORD": "elasticsearch.password",
    "ES_API_KEY": "elasticsearch.api_key",
    "ES_CA_CERTS": "elasticsearch.ca_certs",
    **{
        f"ES_{role.upper()}_{part.upper()}": f"elasticsearch.roles.{role}.{part}"
        for role in ("writer", "reader", "admin")
        for part in ("username", "password", "api_key")
    },
    "SKEWGUARD_ES_ROLES_REQUIRED": "elasticsearch.roles.required",
    "SKEWGUARD_LAKEHOUSE": "lakehouse.root",
    "SKEWGUARD_SPARK_MASTER": "spark.master",
    "SKEWGUARD_CATALOG": "catalog.enabled",
    "SKEWGUARD_CATALOG_PREFIX": "catalog.prefix",
    "SKEWGUARD_PII_KEY": "serving.pii_key",
    "SKEWGUARD_SPOOL_DIR": "serving.spool_dir",
    "SKEWGUARD_LLM_EVAL_URL": "llm_eval.base_url",
    "SKEWGUARD_LLM_EVAL_MODEL": "llm_eval.model",
    "SKEWGUARD_LLM_EVAL_API_KEY": "llm_eval.api_key",
    "SKEWGUARD_MLFLOW_ENABLED": "mlflow.enabled",
    "MLFLOW_TRACKING_URI": "mlflow.tracking_uri",
    "MLFLOW_EXPERIMENT_NAME": "mlflow.experiment",
}


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the key."""


class Settings(SettingsModel):
    profile: str = "local"
    """Name of the overlay that was applied (``conf/<profile>.yaml``)."""
    elasticsearch: ElasticsearchSettings = Field(default_factory=ElasticsearchSettings)
    """Where the serving logs are and how to read them."""
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    """What ingest may do to bronze when Elasticsearch no longer holds documents."""
    lakehouse: LakehouseSettings = Field(default_factory=LakehouseSettings)
    """Where the Delta tables live."""
    spark: SparkSettings = Field(default_factory=SparkSettings)
    """How Python-started Spark sessions are built."""
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    """Under which names the tables are registered in the Spark catalog (the path stays the truth)."""
    serving: ServingSettings = Field(default_factory=ServingSettings)
    """The serving-side logger (``serving/``)."""
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    """Labels, training sets, transform fitting and model bundles."""
    parity: ParitySettings = Field(default_factory=ParitySettings)
    """The parity gate (``check_parity``) and the serving-skew check."""
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)
    """Table upkeep (``maintain_tables``): compaction, vacuum, retention."""
    llm: LlmSettings = Field(default_factory=LlmSettings)
    """LLM interaction logs: validation limits and the fine-tuning / evaluation datasets."""
    drift: DriftSettings = Field(default_factory=DriftSettings)
    """Drift monitoring: reference profiles, metrics, thresholds, slices and reports."""
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    """Evaluating candidate models on labelled served traffic, and the promotion gate."""
    llm_eval: LlmEvalSettings = Field(default_factory=LlmEvalSettings)
    """LLM evaluation (``evaluate_llm``): the candidate endpoint, retries, rate limit, scoring."""
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings)
    """MLflow tracking of the training, parity, drift and evaluation runs (off by default)."""

    def es_for(self, role: EsRole) -> ElasticsearchSettings:
        """The Elasticsearch settings with ``role``'s credentials (see :mod:`skewguard.es_roles`);
        the shared ones when the role has none and ``elasticsearch.roles.required`` is off."""
        es = self.elasticsearch
        creds = getattr(es.roles, role)
        if not creds.present:
            if es.roles.required:
                upper = role.upper()
                raise ConfigError(
                    f"elasticsearch.roles.{role}: no credentials for the {role} role, which "
                    f"{ROLE_USES[role]} connect with: set ES_{upper}_USERNAME and ES_{upper}_PASSWORD, "
                    f'or ES_{upper}_API_KEY (e.g. eval "$(scripts/es.sh env secure)")'
                )
            return es
        return es.model_copy(update={"username": creds.username, "password": creds.password, "api_key": creds.api_key})

    def secret_values(self) -> list[str]:
        """Every password and API key set, for masking in log lines."""
        es = self.elasticsearch
        held = [es.password, es.api_key, self.llm_eval.api_key]
        for creds in (es.roles.writer, es.roles.reader, es.roles.admin):
            held += [creds.password, creds.api_key]
        return [s.get_secret_value() for s in held if s is not None and s.get_secret_value()]

    def artifacts_path(self) -> Path:
        """Local folder of fitted pipelines, training-set manifests, models and bundles."""
        configured = Path(self.training.artifacts_dir)
        if configured.is_absolute():
            return configured
        if "://" in self.lakehouse.root:
            raise ConfigError(
                "training.artifacts_dir: must be an absolute local path when lakehouse.root is a URI "
                f"({self.lakehouse.root})"
            )
        return Path(self.lakehouse.root) / configured

    def metastore_path(self) -> Path:
        """Local folder of the embedded Hive metastore (``catalog.metastore_dir``, default
        ``<lakehouse>/_catalog``): one per lakehouse, so two lakehouses never share names."""
        configured = self.catalog.metastore_dir
        if configured and Path(configured).is_absolute():
            return Path(configured)
        if "://" in self.lakehouse.root:
            raise ConfigError(
                "catalog.metastore_dir: must be set to a local folder when lakehouse.root is a URI "
                f"({self.lakehouse.root}), or use catalog.metastore: session"
            )
        return Path(self.lakehouse.root) / (configured or "_catalog")

    def drift_report_root(self) -> Path:
        """Folder of the drift reports (one sub-folder per run)."""
        configured = Path(self.drift.report_dir)
        return configured if configured.is_absolute() else self.artifacts_path() / configured

    def evaluation_report_root(self) -> Path:
        """Folder of the evaluation reports (one sub-folder per run)."""
        configured = Path(self.evaluation.report_dir)
        return configured if configured.is_absolute() else self.artifacts_path() / configured

    def llm_eval_report_root(self) -> Path:
        """Folder of the LLM evaluation reports (one sub-folder per run)."""
        configured = Path(self.llm_eval.report_dir)
        return configured if configured.is_absolute() else self.artifacts_path() / configured

    def mlflow_tracking_uri(self) -> str:
        """``mlflow.tracking_uri``, or MLflow's file store at ``<lakehouse>/mlruns`` (a local
        lakehouse only: next to tables on an object store, name a tracking server instead)."""
        if self.mlflow.tracking_uri:
            return self.mlflow.tracking_uri
        if "://" in self.lakehouse.root:
            raise ConfigError(
                f"mlflow.tracking_uri (env MLFLOW_TRACKING_URI): required when lakehouse.root is a URI "
                f"({self.lakehouse.root})"
            )
        return (Path(self.lakehouse.root).absolute() / "mlruns").as_uri()

    def llm_export_root(self) -> str:
        """Where ``build_llm_datasets`` writes its JSONL files (a path or a URI)."""
        configured = self.llm.export_dir
        if configured.startswith("/") or "://" in configured:
            return configured
        return f"{self.lakehouse.root.rstrip('/')}/{configured}"


def repo_root() -> Path:
    """The skewguard checkout (conf/, .cache/ and the default lakehouse live there).

    ``$SKEWGUARD_HOME`` when set; else the folder holding this package; else — when the
    code runs from a ``--py-files`` zip under spark-submit — the working directory.
    """
    if os.environ.get("SKEWGUARD_HOME"):
        return Path(os.environ["SKEWGUARD_HOME"])
    here = Path(__file__).resolve().parent.parent
    return here if (here / "conf").is_dir() else Path.cwd()


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    for dotted in _secret_keys_set(data):
        raise ConfigError(f"{dotted}: secrets are read from the environment only; remove it from {path.name}")
    return data


def _secret_keys_set(data: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys of the secrets ``data`` sets, at any depth (``elasticsearch.roles.writer.password``)."""
    found = []
    for key, value in data.items():
        if isinstance(value, dict):
            found += _secret_keys_set(value, f"{prefix}{key}.")
        elif prefix and key in SECRET_KEYS and value not in (None, ""):
            found.append(f"{prefix}{key}")
    return found


def _set_dotted(data: dict[str, Any], dotted: str, value: str) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def _resolve_paths(settings: Settings, root: Path) -> Settings:
    """Relative lakehouse and jar-list paths are relative to the checkout, not the cwd."""

    lake = settings.lakehouse.root
    if "://" not in lake and not Path(lake).is_absolute():
        lake = str(root / lake)
    jars = settings.spark.jars_manifest
    spool = settings.serving.spool_dir
    maps = settings.serving.id_maps_dir
    return settings.model_copy(
        update={
            "lakehouse": settings.lakehouse.model_copy(update={"root": lake}),
            "spark": settings.spark.model_copy(update={"jars_manifest": jars if jars.is_absolute() else root / jars}),
            "serving": settings.serving.model_copy(
                update={
                    "spool_dir": spool if spool.is_absolute() else root / spool,
                    "id_maps_dir": maps if maps.is_absolute() else root / maps,
                }
            ),
        }
    )


def load_settings(
    profile: str | None = None,
    conf_dir: Path | None = None,
    env: dict[str, str] | None = None,
) -> Settings:
    """Load ``base.yaml``, the profile overlay and env overrides into :class:`Settings`.

    ``profile`` defaults to ``$SKEWGUARD_PROFILE`` or ``local``; ``conf_dir`` to
    ``$SKEWGUARD_CONF_DIR`` or the repository's ``conf/``.
    """
    environ = os.environ if env is None else env
    root = repo_root()
    conf = Path(conf_dir or environ.get("SKEWGUARD_CONF_DIR") or root / "conf")
    profile = profile or environ.get("SKEWGUARD_PROFILE") or "local"
    base_file = conf / "base.yaml"
    if not base_file.is_file():
        raise ConfigError(f"conf: {base_file} not found (set SKEWGUARD_CONF_DIR?)")
    data = _read_yaml(base_file)
    overlay = conf / f"{profile}.yaml"
    if not overlay.is_file():
        known = sorted(p.stem for p in conf.glob("*.yaml") if p.stem != "base")
        raise ConfigError(f"profile: no overlay {overlay} (known profiles: {', '.join(known)})")
    data = _deep_merge(data, _read_yaml(overlay))
    data["profile"] = profile
    for var, dotted in ENV_OVERRIDES.items():
        value = environ.get(var)
        if value not in (None, ""):
            _set_dotted(data, dotted, value)
    try:
        return _resolve_paths(Settings.model_validate(data), root)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        env_hint = next((f" (env {v})" for v, k in ENV_OVERRIDES.items() if k == key), "")
        # pydantic's message can echo the input; secrets must not reach a log line.
        secret = key.rsplit(".", 1)[-1] in SECRET_KEYS
        reason = "invalid value" if secret else first["msg"]
        raise ConfigError(f"{key}{env_hint}: {reason}") from None
