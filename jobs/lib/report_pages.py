"""HTML report pages from Jinja2 templates: the drift and parity reports render through one
kind of environment, so every report escapes alike.

Each report package keeps its templates in its own ``templates/`` folder (package data: in the
wheel through ``[tool.setuptools.package-data]``, in the ``--py-files`` zip through
:func:`skewguard.stack.build_pyfiles_zip`), next to the shared page layout here,
``report_page.html.j2`` (doctype, charset, viewport, title and inline stylesheet; no script, no
external resource). The templates are loaded with :class:`jinja2.PackageLoader`, which reads them
from a folder or from a zip alike.

Autoescaping is on for every template: any value a template prints (feature names, workload ids,
reasons, example ids) is escaped by Jinja. Only markup built by a library that escapes its own
text — the charts' SVG from Matplotlib — is passed in as :class:`markupsafe.Markup`.
:class:`jinja2.StrictUndefined` makes a misspelt or missing variable an error, not an empty
string."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jinja2

__all__ = ["page_environment"]


def page_environment(package: str, filters: Mapping[str, Callable[..., Any]] | None = None) -> jinja2.Environment:
    """An environment over ``package``'s ``templates/`` folder and the shared layout, with
    autoescaping, strict undefined variables and ``filters``."""
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [jinja2.PackageLoader(package, "templates"), jinja2.PackageLoader("jobs.lib", "templates")]
        ),
        autoescape=True,  # every template here is HTML (or CSS included by one)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(filters or {})
    return env
