"""Which Elasticsearch credentials each component uses: least privilege by role.

A secured cluster gives the serving logger and ``skewguard load`` a *writer* (create documents,
nothing else), the Spark jobs and reconcile a *reader* (search, scroll, count), and index and
template creation an *admin*; ``scripts/es.sh``'s secure profile defines the three as
file-realm roles. Each role's credentials come from the environment (``ES_<ROLE>_USERNAME`` /
``ES_<ROLE>_PASSWORD`` or ``ES_<ROLE>_API_KEY``); a role without its own falls back to the
shared ``ES_USERNAME``/``ES_PASSWORD``/``ES_API_KEY`` unless ``required`` is set, so a cluster
with one user (or none) keeps working unchanged.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

__all__ = ["ROLE_USES", "EsRole", "EsRoles", "RoleCredentials"]

EsRole = Literal["writer", "reader", "admin"]

#: role → the components that connect with it (for messages and the README)
ROLE_USES: dict[str, str] = {
    "writer": "the serving logger and `skewguard load`",
    "reader": "the Spark jobs and `skewguard reconcile`",
    "admin": "`skewguard create-index` (index, mapping and template)",
}


class RoleCredentials(BaseModel):
    """One role's credentials; environment only, like every secret."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)

    username: SecretStr | None = None
    """Basic-auth user (env ``ES_<ROLE>_USERNAME``)."""
    password: SecretStr | None = None
    """Basic-auth password (env ``ES_<ROLE>_PASSWORD``); never logged."""
    api_key: SecretStr | None = None
    """API key (base64 ``id:key``) instead of a user (env ``ES_<ROLE>_API_KEY``)."""

    @model_validator(mode="after")
    def _password_has_user(self) -> RoleCredentials:
        if self.password is not None and self.username is None:
            raise ValueError("a password without a username: set ES_<ROLE>_USERNAME too")
        return self

    @property
    def present(self) -> bool:
        return self.username is not None or self.api_key is not None


class EsRoles(BaseModel):
    """The credentials of each role, and whether every component must have its own."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)

    writer: RoleCredentials = Field(default_factory=RoleCredentials)
    """Used by the serving logger and ``skewguard load``: may only create log documents."""
    reader: RoleCredentials = Field(default_factory=RoleCredentials)
    """Used by the Spark jobs (ingest) and ``skewguard reconcile``: may only read the logs."""
    admin: RoleCredentials = Field(default_factory=RoleCredentials)
    """Used by ``skewguard create-index`` (and index refresh): manages the log indices."""
    required: bool = False
    """True: a component whose role has no credentials of its own fails at start-up instead of
    using the shared ``ES_USERNAME``/``ES_PASSWORD`` (env ``SKEWGUARD_ES_ROLES_REQUIRED``;
    ``scripts/es.sh env secure`` sets it)."""
