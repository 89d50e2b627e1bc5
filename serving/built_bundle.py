"""Loading the bundle a logged model name and version name, when those come from data.

A prediction log says which model served it (``model.name``, ``model.version``); the
serving-skew check loads that model's bundle and runs its Python code. So the names are
untrusted: a bundle is loaded from them only when

1. both match :data:`skewguard.artifacts.NAME_PATTERN` (no ``..``, no ``/``, no absolute path);
2. ``<artifacts>/bundles/<name>-<version>`` resolves (symlinks followed) inside
   ``<artifacts>/bundles``;
3. its content hash equals the one ``skewguard bundle build`` recorded under
   ``<artifacts>/bundle_records/`` — outside the bundle, so editing a bundle cannot also edit
   its record.

Each check runs before any of the bundle's code is imported; a failure is one
:class:`~serving.bundle.BundleError` line."""

from __future__ import annotations

from serving.bundle import Bundle, BundleError
from skewguard.artifacts import ArtifactNameError, bundle_dir, read_bundle_record, resolved_inside
from skewguard.config import Settings

__all__ = ["load_built_bundle"]


def load_built_bundle(settings: Settings, name: object, version: object) -> Bundle:
    """The bundle built for model ``name`` version ``version``, checked as the module says
    (its ``path`` is the resolved folder); :class:`BundleError` with the cause otherwise."""
    try:
        folder = bundle_dir(settings, name, version)  # type: ignore[arg-type]  # checked there
        real = resolved_inside(settings.artifacts_path() / "bundles", folder)
        recorded = read_bundle_record(settings, str(name), str(version))
    except (ArtifactNameError, OSError, ValueError) as exc:
        raise BundleError(f"model {name!r} version {version!r}: {exc}") from None
    return Bundle.load(real, content_hash=recorded)
