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

import io
import re
from collections.abc import Callable, Mapping
from typing import Any

import jinja2
from markupsafe import Markup

__all__ = ["inline_svg", "page_environment"]

_XMLNS = re.compile(r'\s+xmlns(?::xlink)?="[^"]*"')  # inline in HTML the parser sets the namespaces
_TAG = re.compile(r"<[^>]+>")  # Matplotlib escapes "<" in text and attributes: every "<" opens a tag
_ID_REF = re.compile(r'(\bid="|url\(#|href="#)([^")]+)')
_NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}  # no RDF block, no date


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


def _scoped(svg: str, ident: str) -> str:
    """Every id of the chart (and every reference to one) under ``ident``, so that many charts
    in one page share none: Matplotlib numbers its groups from 1 in each figure."""

    def scope(m: re.Match[str]) -> str:
        value = m.group(2)
        return m.group(0) if value == ident or value.startswith(ident + "-") else f"{m.group(1)}{ident}-{value}"

    return _TAG.sub(lambda tag: _ID_REF.sub(scope, tag.group(0)), svg)


def inline_svg(figure: Any, ident: str, metadata: Mapping[str, Any] | None = None) -> Markup:
    """A Matplotlib figure as an inline ``<svg>`` with the id ``ident``: no XML prolog, no
    doctype, no metadata (unless given), every id under ``ident``. Matplotlib escapes the text
    it writes, so the result is safe markup."""
    import matplotlib as mpl

    buf = io.StringIO()
    with mpl.rc_context({"svg.id": ident}):
        figure.savefig(buf, format="svg", metadata=dict(_NO_METADATA if metadata is None else metadata))
    text = buf.getvalue()
    start = text.index("<svg")
    end = text.index(">", start)
    return Markup(_scoped(_XMLNS.sub("", text[start:end]) + text[end:].strip(), ident))
