"""The service being published, as its dbt project describes it.

Everything the release says about the service (name, producer, contact, how to cite…) and which published
model holds its usage statistics is declared in the service's dbt project, never in Python:

- `dbt_project.yml`, `vars: {service: {...}}` (see `Service` for the keys). dbt's manifest does not keep the
  project's vars, so the file itself is read; the values must be plain YAML (no Jinja).
- a usage dataset is a published model whose columns carry `meta.usage`, a role among `USAGE_ROLES`
  (`week`, `feature` and `events` are required). The stats page and the frozen-weeks ledger take their
  columns from those roles. A service without such a model publishes no usage section and no stats page.
- the service's own usage events, if it records any: one source table marked `meta: {commons: {usage_events:
  true}}`, its columns given a `meta.usage_event` role among `EVENT_ROLES` (`time` required). The CNIL
  exemption report measures that table and those columns only; without one it measures Matomo only.
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
from commons_assets.week import TIMEZONE

SERVICE_VAR = "service"
DEFAULT_TIMEZONE = TIMEZONE  # the publishing zone when a project declares none (commons_assets.week)
DEFAULT_SOURCE_TIMEZONE = "UTC"


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
    # The zone of the published ISO weeks (a week is Monday 00:00 to Monday 00:00 there) and of the partitions.
    timezone: str = DEFAULT_TIMEZONE
    # The zone in which the source stores naive timestamps (`timestamp without time zone`: Rails and Django
    # store naive UTC); a timestamptz column carries its own zone and ignores it.
    source_timezone: str = DEFAULT_SOURCE_TIMEZONE
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

    @field_validator("timezone", "source_timezone")
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


# The keys that describe the service to the public: a `vars.service` holding none of them is not written yet
DESCRIPTION_KEYS = ("name", "producer", "contact", "description")
_UNWRITTEN_DESCRIPTION = {"name": "-", "producer": "-", "contact": "https://-", "description": "---"}


def declared_service(project_dir: Path | None = None) -> Service | None:
    """The service when its dbt project describes it, None when it does not yet: no `vars.service`, or one with
    none of DESCRIPTION_KEYS (the block `commons-assets init` writes holds only the time zones, which the
    macros and the partitions read themselves). What only tunes the UI (first week, owners, a check's severity)
    then takes its default, and the release itself stops on the missing description. A block that has begun
    the description but is wrong or incomplete still raises, naming the key."""
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
        if isinstance(block, Mapping) and not set(block) & set(DESCRIPTION_KEYS):
            # not described yet, but what is there must hold (a misspelt zone): checked with the description
            # filled in, so that only the keys actually written can be named
            service_from_vars({SERVICE_VAR: {**_UNWRITTEN_DESCRIPTION, **block}}, str(project_dir))
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



# ------------------------------------------------------------------------------------------------ events

# A source table holding the service's own usage events says so on the table, in its sources yml:
#   meta: {commons: {usage_events: true}}
# and each column that plays a role says which: meta: {usage_event: time | visitor | ip | name}.
EVENT_SOURCE_MARK = "usage_events"
EVENT_ROLES = ("time", "visitor", "ip", "name")
REQUIRED_EVENT_ROLES = ("time",)


@dataclass(frozen=True)
class EventSource:
    """The service's declared event table: where it is, the column playing each role, and the yml declaring it.

    Only what is declared is measured: without an `ip` column the CNIL report says the IP condition was not
    measured rather than assuming it holds."""

    schema: str
    table: str  # the relation's name in the database (dbt's `identifier`)
    roles: Mapping[str, str]  # role -> column name
    yml: str = ""
    source_name: str = ""
    name: str = ""  # the table's name in dbt (`source('<source_name>', '<name>')`)
    unique_id: str = ""

    def column(self, role: str) -> str | None:
        return self.roles.get(role)

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.table}"


def _is_event_source(source: Mapping) -> bool:
    metas = ((source.get("config") or {}).get("meta") or {}, source.get("meta") or {})
    return any(isinstance(m.get("commons"), Mapping) and m["commons"].get(EVENT_SOURCE_MARK) is True for m in metas)


def usage_event_source(manifest: Mapping) -> EventSource | None:
    """The source table the dbt project declares as its usage events, or None when it declares none (usage
    from Matomo only, or no usage at all). A PolicyError, naming the yml, for two declared tables, a role that
    is not one of EVENT_ROLES, a role given twice or a required role missing."""
    declared = [s for s in manifest.get("sources", {}).values() if _is_event_source(s)]
    if not declared:
        return None
    if len(declared) > 1:
        names = ", ".join(
            f"{s.get('source_name')}.{s.get('name')} ({s.get('original_file_path') or 'its yml'})"
            for s in sorted(declared, key=lambda s: s.get("unique_id", ""))
        )
        raise PolicyError(
            f"{len(declared)} source tables declare meta.commons.{EVENT_SOURCE_MARK}: {names}; a service has one "
            "event table: keep the mark on one of them"
        )
    (source,) = declared
    yml = source.get("original_file_path") or "its sources yml"
    where = f"source table {source.get('source_name')}.{source.get('name')} in {yml}"
    roles: dict[str, str] = {}
    problems = []
    for name, column in (source.get("columns") or {}).items():
        role = _column_meta(column).get("usage_event")
        if role is None:
            continue
        if role not in EVENT_ROLES:
            problems.append(f"column {name}: meta.usage_event {role!r} is not one of {', '.join(EVENT_ROLES)}")
        elif role in roles:
            problems.append(f"meta.usage_event {role!r} is given to both {roles[role]} and {name}")
        else:
            roles[role] = name
    for role in REQUIRED_EVENT_ROLES:
        if role not in roles:
            problems.append(f"no column declares meta.usage_event: {role}")
    if problems:
        raise PolicyError(f"{where} is declared as the usage events incompletely:\n- " + "\n- ".join(problems))
    return EventSource(
        schema=source["schema"],
        table=source.get("identifier") or source["name"],
        roles=roles,
        yml=yml,
        source_name=source.get("source_name", ""),
        name=source["name"],
        unique_id=source.get("unique_id", ""),
    )
