"""The ``serving`` section of ``conf/*.yaml``: the serving-side logger (``serving/``) — sampling,
queue and bulk sizes, the spool, PII redaction and schema minimisation.

Composed into ``Settings`` by :mod:`skewguard.config`; import it from there.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from skewguard.settings_models import SettingsModel

__all__ = ["ServingSettings"]


class ServingSettings(SettingsModel):
    default_sampling_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    """Share of requests logged for workloads without their own rate."""
    sampling_rates: dict[str, float] = Field(default_factory=dict)
    """Per-workload share of requests logged, e.g. ``{fraud-scoring: 0.05}``."""
    queue_size: int = Field(default=100_000, ge=10)
    """Records held in memory waiting for the sender; beyond it records go to the spool."""
    batch_size: int = Field(default=2000, ge=1, le=10_000)
    """Records per bulk request."""
    flush_interval_s: float = Field(default=0.5, gt=0)
    """Longest a record waits in memory before being sent."""
    sender_threads: int = Field(default=4, ge=1, le=16)
    """Bulk requests in flight at once."""
    spool_dir: Path = Path(".cache/spool")
    """Where batches wait on disk while Elasticsearch is slow or down (env ``SKEWGUARD_SPOOL_DIR``)."""
    spool_max_bytes: int = Field(default=1 << 30, ge=1 << 16)
    """Disk cap of the spool; only past it are records dropped (and logged loudly)."""
    retry_max_s: float = Field(default=30.0, gt=0)
    """Longest wait between attempts to reach a cluster that is down."""
    pii_enabled: bool = True
    """Redact PII before a record leaves the process."""
    pii_patterns: tuple[str, ...] = ("email", "phone", "card", "national_id")
    """Built-in detectors to apply to every string."""
    pii_hash_fields: tuple[str, ...] = ()
    """Field names (at any depth) whose values are replaced by a keyed hash."""
    pii_key: SecretStr | None = None
    """Key of that hash; environment only (``SKEWGUARD_PII_KEY``)."""
    id_maps_dir: Path = Path("conf/id_maps")
    """Schema minimisation: the folder of id maps (``<map id>.json``, see ``serving.id_map``). The
    logger minimises with the one ``id_map`` names; ``parse_logs`` expands every record whose map
    is here and quarantines one whose map is not (``invalid_id_map``)."""
    id_map: str | None = None
    """Id of the map the logger minimises predictions with (short feature ids, category codes);
    unset: features are logged under their own names."""

    @field_validator("sampling_rates")
    @classmethod
    def _rates_in_range(cls, value: dict[str, float]) -> dict[str, float]:
        for workload, rate in value.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"rate for {workload!r} must be within [0, 1], got {rate}")
        return value
