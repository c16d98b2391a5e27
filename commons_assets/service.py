"""The service being published, as its dbt project describes it.

Everything the release says about the service (name, producer, contact, how to cite…) and which published
model holds its usage statistics is declared in the service's dbt project, never in Python:

- `dbt_project.yml`, `vars: {service: {...}}` (see `Service` for the keys). dbt's manifest does not keep the
  project's vars, so the file itself is read; the values must be plain YAML (no Jinja).
- a usage dataset is a published model whose columns carry `meta.usage`, a role among `USAGE_ROLES`
  (`week`, `feature` and `events` are required). The stats page and the frozen-weeks ledger take their
  columns from those roles. A service without such a model publishes no usage section and no stats page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from commons_assets.errors import PolicyError
from commons_assets.privacy.policy import Policy, PublishedModel

SERVICE_VAR = "service"


class ServiceError(PolicyError):
    """The service's description in its dbt project is missing or wrong; the message names the key."""


class Service(BaseModel):
    """`vars.service` of dbt_project.yml: who publishes what, in the words of the release's README."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)  # the service's public name, e.g. in the README's title
    producer: str = Field(min_length=1)  # the organisation that runs the service and publishes its data
    contact: str = Field(min_length=3)  # an e-mail address or a URL
    description: str = Field(min_length=3)  # one or two French sentences: what the service does
    homepage: str | None = None
    citation: str | None = None  # how to cite the data; default: « <name>, <producer> »
    timezone: str = "Europe/Paris"
    first_week: str | None = None  # first ISO week with data, e.g. 2024-W01
    # who answers for the service's data in the Dagster UI: e-mail addresses or `team:<name>`, as Dagster wants
    owners: list[str] = Field(default_factory=list)
    # a CNIL exemption condition that does not hold: `warn` shows the check failed in the UI and publishes,
    # `block` stops the release before the export
    exemption_check: Literal["warn", "block"] = "warn"

    @field_validator("owners")
    @classmethod
    def _owners(cls, value: list[str]) -> list[str]:
        for owner in value:
            if not (owner.startswith("team:") and len(owner) > 5) and "@" not in owner:
                raise ValueError(f"{owner!r} is neither an e-mail address nor team:<name>")
        return value

    @field_validator("contact")
    @classmethod
    def _contact(cls, value: str) -> str:
        if "@" not in value and not value.startswith(("https://", "http://")):
            raise ValueError("must be an e-mail address or an http(s) URL")
        return value

    @field_validator("homepage")
    @classmethod
    def _homepage(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Paris)") from None
        return value

    @field_validator("first_week")
    @classmethod
    def _first_week(cls, value: str | None) -> str | None:
        if value is not None:
            from commons_assets.week import Week

            Week.parse(value)
        return value

    @property
    def how_to_cite(self) -> str:
        return self.citation or f"{self.name}, {self.producer}"

    @property
    def slug(self) -> str:
        """The service's name as a Frictionless package name (lower case, digits, -)."""
        import unicodedata

        ascii_name = unicodedata.normalize("NFKD", self.name).encode("ascii", "ignore").decode().lower()
        slug = "".join(c if c.isalnum() else "-" for c in ascii_name).strip("-")
        return "-".join(part for part in slug.split("-") if part) or "service"


def service_from_vars(project_vars: Mapping | None, where: str = "dbt_project.yml") -> Service:
    """The service from the project's vars; a ServiceError names every missing or wrong key."""
    block = (project_vars or {}).get(SERVICE_VAR)
    if not isinstance(block, Mapping):
        raise ServiceError(
            f"{where} does not describe the service: add under `vars:` a `{SERVICE_VAR}:` block with at least "
            "name, producer, contact and description (see commons_assets/service.py)"
        )
    try:
        return Service.model_validate(dict(block))
    except ValidationError as err:
        problems = []
        for error in err.errors():
            key = ".".join(str(p) for p in error["loc"])
            message = "missing" if error["type"] == "missing" else error["msg"]
            problems.append(f"vars.{SERVICE_VAR}.{key}: {message}")
        raise ServiceError(f"{where}: the service's description is incomplete:\n- " + "\n- ".join(problems)) from None


def load_service(project_dir: Path | None = None) -> Service:
    """Read `vars.service` from the dbt project's `dbt_project.yml` (default: the project in use)."""
    if project_dir is None:
        from commons_assets.dbt.project import service_project_dir

        project_dir = service_project_dir()
    path = Path(project_dir) / "dbt_project.yml"
    try:
        project = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ServiceError(f"no dbt_project.yml in {project_dir}") from None
    except yaml.YAMLError as err:
        raise ServiceError(f"{path} is not valid YAML: {err}") from None
    return service_from_vars(project.get("vars") if isinstance(project, Mapping) else None, str(path))


def declared_service(project_dir: Path | None = None) -> Service | None:
    """The service when its dbt project describes it, None when `vars.service` is absent (a project just made by
    `commons-assets init`): what only tunes the UI (first week, owners, a check's severity) then takes its
    default, and the release itself stops on the missing description. A block present but wrong still raises."""
    try:
        return load_service(project_dir)
    except ServiceError:
        if project_dir is None:
            from commons_assets.dbt.project import service_project_dir

            project_dir = service_project_dir()
        project = yaml.safe_load((Path(project_dir) / "dbt_project.yml").read_text(encoding="utf-8")) or {}
        block = (project.get("vars") or {}).get(SERVICE_VAR) if isinstance(project, Mapping) else None
        if block is None:
            return None
        raise


# ------------------------------------------------------------------------------------------------ usage

# What each column of a usage dataset means to the stats page and the frozen-weeks ledger.
USAGE_ROLES = ("week", "source", "feature", "feature_label", "events", "visits", "visitors")
REQUIRED_USAGE_ROLES = ("week", "feature", "events")
# Roles that identify a row (the ledger's primary key); the others are counts or labels.
USAGE_KEY_ROLES = ("week", "source", "feature")
USAGE_COUNT_ROLES = ("events", "visits", "visitors")


@dataclass(frozen=True)
class UsageDataset:
    """A published model declared as usage statistics, with the column playing each role."""

    model: PublishedModel
    roles: Mapping[str, str]  # role -> column name

    def column(self, role: str) -> str | None:
        return self.roles.get(role)

    @property
    def key_columns(self) -> list[str]:
        return [self.roles[r] for r in USAGE_KEY_ROLES if r in self.roles]

    @property
    def frozen_columns(self) -> list[str]:
        """Every column the ledger freezes, in the order of the model's contract."""
        declared = set(self.roles.values())
        return [c for c in self.model.column_names if c in declared]

    @property
    def count_columns(self) -> list[str]:
        return [self.roles[r] for r in USAGE_COUNT_ROLES if r in self.roles]


def _column_meta(column: Mapping) -> Mapping:
    return (column.get("config") or {}).get("meta") or column.get("meta") or {}


def usage_datasets(manifest: Mapping, policy: Policy) -> list[UsageDataset]:
    """The published models whose columns declare a `meta.usage` role; a PolicyError names a wrong role."""
    by_id = {m.unique_id: m for m in policy.published}
    found, problems = [], []
    for node in manifest.get("nodes", {}).values():
        model = by_id.get(node.get("unique_id"))
        if model is None:
            continue
        roles: dict[str, str] = {}
        for name, column in (node.get("columns") or {}).items():
            role = _column_meta(column).get("usage")
            if role is None:
                continue
            if role not in USAGE_ROLES:
                problems.append(
                    f"column {model.name}.{name}: meta.usage {role!r} is not one of {', '.join(USAGE_ROLES)}"
                )
            elif role in roles:
                problems.append(
                    f"model {model.name}: meta.usage {role!r} is given to both {roles[role]} and {name}"
                )
            else:
                roles[role] = name
        if not roles:
            continue
        for role in REQUIRED_USAGE_ROLES:
            if role not in roles:
                problems.append(f"usage model {model.name}: no column declares meta.usage: {role}")
        found.append(UsageDataset(model=model, roles=roles))
    if problems:
        raise PolicyError("usage statistics declared incompletely:\n- " + "\n- ".join(problems))
    return sorted(found, key=lambda u: u.model.name)

