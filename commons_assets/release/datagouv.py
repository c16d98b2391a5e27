"""Publish a finished weekly release folder to data.gouv.fr through its API (udata), whole or nothing.

One run, for every dataset of the release:

1. **Before anything changes**: every local check (files exist, licences, tags, schema references), the API
   key (`GET /api/1/me/`), the file names against the portal's own list of accepted extensions
   (`GET /api/1/datasets/extensions/`) and each dataset's licence against the licences it knows
   (`GET /api/1/datasets/licenses/`): a file or a licence the portal would refuse stops the run here, not
   halfway; an optional file (the Parquet copy) it would refuse is left out, with a warning.
2. **Stage**: the dataset is reused (its id is read from the ids file) or created *private*; each file is
   uploaded as a new resource, or replaced in place in its existing resource (same resource id from week to
   week, so its URL stays stable), or left alone when the portal already holds the same bytes (checksum);
   then each resource's title, description, type and schema are set.
3. **Verify**: every resource is read back and its checksum compared with the local file.
4. **Announce**: only when every dataset of the release is staged and verified, each dataset's metadata is
   set (title, description, licence, frequency, temporal coverage, tags, organisation, public), and read back.

A failure before step 4 leaves every dataset's announcement as it was; the next run completes or repairs
what is half done, and a run over an already published week changes nothing. Caveat: udata has no
transaction, so the files of a resource replaced in place at step 2 are the new ones as soon as they are
uploaded, even when a later failure keeps the announcement of the previous week.

Why not the official `datagouv-client` (0.5.1, read from its code)? It serves none of this:
- it retries *every* exception five times, 4 to 10 s apart (`simple_connection_retry`, tenacity), a 400,
  401 or 403 included, since it raises them as plain `Exception(r.text)`; and it ignores `Retry-After`;
- it has no base URL: `Client` builds `https://{environment}.data.gouv.fr`, and `Dataset`, `Resource`,
  `Organization` default to `_client=Client()`, evaluated at import, which points at the *production*
  portal: a forgotten argument there sends requests to www.data.gouv.fr;
- its HTTP stack, niquests, pulls urllib3-future, which rewrites `site-packages/urllib3` at interpreter start
  (a `.pth` file) under requests, Dagster and dbt: a change to the whole environment for a thin wrapper.
So this module calls the API through the project's own HTTP client (`commons_assets.http`), whose retry
policy is the one a release needs.

The API key is sent in the `X-API-KEY` header only: it is left out of the settings' repr, and every message
built from a server answer or a network error is redacted by the HTTP client.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import ipaddress
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import yaml

from commons_assets import http
from commons_assets.errors import CommonsError
from commons_assets.release.licences import check_release_licence
from commons_assets.settings import SettingsError

log = logging.getLogger(__name__)

ENV_API_KEY = "DATAGOUV_API_KEY"
ENV_ENVIRONMENT = "DATAGOUV_ENVIRONMENT"
ENV_BASE_URL = "DATAGOUV_BASE_URL"
ENV_ORGANIZATION = "DATAGOUV_ORGANIZATION"
# data.gouv.fr's pipelines publish to demo outside production; so does this publisher unless told `www`.
ENVIRONMENTS = {"demo": "https://demo.data.gouv.fr", "www": "https://www.data.gouv.fr"}
DEFAULT_ENVIRONMENT = "demo"
RESOURCE_TYPES = ("main", "documentation")
# What the portal calls the frequency of a release published every ISO week.
WEEKLY = "weekly"

# udata refuses any upload it takes for HTML (415), whatever its list of extensions says.
_HTML_SUFFIXES = (".html", ".htm", ".xhtml")
_UPLOAD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# A data.gouv.fr tag, as udata stores it: lower case slug, 3 to 96 characters.
_TAG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
_CONNECT_TIMEOUT = 10.0
# One request, the upload of a large file included: a read stalled this long is a dead connection.
_READ_TIMEOUT = 300.0
# Written into `extras` so that a dataset or resource created by a run that died before recording its id in
# the ids file is found and reused by the next run, instead of being duplicated.
_MARKER_SLUG = "commons_assets:slug"
_MARKER_PATH = "commons_assets:path"
_CHECKSUM_ALGORITHMS = {"sha1": "sha1", "sha256": "sha256", "md5": "md5"}

IDS_FILE_HEADER = """\
# data.gouv.fr ids of the datasets and resources commons-assets publishes, per environment (demo, www).
#
# The publisher writes here the id of every dataset or resource it creates, as soon as it exists. Commit
# this file after a release that created one: the next run, on any machine, then updates the same datasets
# and replaces the same resources in place, so that their addresses stay stable from week to week.
# A dataset id that no longer exists on data.gouv.fr stops the release: remove it here, deliberately, to
# have a new dataset created. Only this header is kept when the file is rewritten.
"""


class DatagouvError(CommonsError, RuntimeError):
    """data.gouv.fr refused or could not take the release; the message says which call and why, never the key."""


class DatagouvSettingsError(DatagouvError, SettingsError):
    """A DATAGOUV_* setting is missing or malformed; the message names the variable (never shows the key)."""


# ---------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class DatagouvSettings:
    """Where to publish and as whom. Built from the environment by `from_env()`, or from explicit values (a
    Dagster resource reading `dg.EnvVar`s); checked either way. `base_url` defaults to the environment's
    portal and overrides it when given (tests point it at a local udata)."""

    api_key: str = field(repr=False)
    organization: str
    environment: str = DEFAULT_ENVIRONMENT
    base_url: str | None = None

    def __post_init__(self) -> None:
        if self.environment not in ENVIRONMENTS:
            raise DatagouvSettingsError(
                f"{ENV_ENVIRONMENT}={self.environment!r} is not a data.gouv.fr environment: use "
                f"{' or '.join(ENVIRONMENTS)}"
            )
        if not isinstance(self.api_key, str) or not self.api_key.strip():
            raise DatagouvSettingsError(f"{ENV_API_KEY} is not set: create a key in your data.gouv.fr profile")
        if any(ch.isspace() for ch in self.api_key):
            raise DatagouvSettingsError(f"{ENV_API_KEY} contains white space: copy the key again")
        if not isinstance(self.organization, str) or not _OBJECT_ID.match(self.organization):
            raise DatagouvSettingsError(
                f"{ENV_ORGANIZATION}={self.organization!r} is not a data.gouv.fr organisation id "
                "(24 hexadecimal characters, shown in the organisation's page, tab Informations)"
            )
        object.__setattr__(self, "base_url", _check_base_url(self.base_url or ENVIRONMENTS[self.environment]))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DatagouvSettings:
        values = {name: (env.get(name) or "").strip() for name in (ENV_API_KEY, ENV_ORGANIZATION)}
        for name, value in values.items():
            if not value:
                raise DatagouvSettingsError(f"{name} is not set")
        return cls(
            api_key=values[ENV_API_KEY],
            organization=values[ENV_ORGANIZATION],
            environment=(env.get(ENV_ENVIRONMENT) or "").strip() or DEFAULT_ENVIRONMENT,
            base_url=(env.get(ENV_BASE_URL) or "").strip() or None,
        )


def _check_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise DatagouvSettingsError(f"{ENV_BASE_URL}={url!r} is not an http(s) address such as {ENVIRONMENTS['demo']}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        # The key travels in a header: in clear text only to this machine.
        raise DatagouvSettingsError(f"{ENV_BASE_URL}={url!r} must use https (plain http only to this machine)")
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ------------------------------------------------------------------------------------------- what to publish


@dataclass(frozen=True)
class DatasetFile:
    """One file of the release folder to publish as one resource of a dataset.

    `schema`: the udata `schema` of the resource: the path of another file of the same dataset (its
    `schema.json`: the resource then points at that file's stable address), an http(s) URL, or a udata schema
    dict (`{"name": …, "version": …}` for a schema of schema.data.gouv.fr, or `{"url": …}`).
    `upload_name`: the file name the portal stores (and derives the format from); the file's own name by
    default. The portal refuses some extensions (see `GET /api/1/datasets/extensions/`): publish
    `SHA256SUMS` as `SHA256SUMS.txt`, say."""

    path: str
    title: str
    description: str
    type: str = "main"
    schema: str | Mapping[str, str] | None = None
    upload_name: str | None = None
    # a copy readers can do without (Parquet beside the CSV): left out, not a failure, if the portal refuses it
    optional: bool = False


@dataclass(frozen=True)
class DatasetPublication:
    """One dataset of the release: our name for it (`slug`, the key in the ids file), what the portal shows
    (French title and markdown description), its licence id, the period it covers and its files; the files
    may be given as DatasetFile or as `(path, title, description, type[, schema])` tuples."""

    slug: str
    title: str
    description: str
    licence: str
    temporal_coverage: tuple[dt.date, dt.date]
    tags: Sequence[str]
    files: Sequence[DatasetFile | tuple]
    frequency: str = WEEKLY

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "files", tuple(f if isinstance(f, DatasetFile) else DatasetFile(*f) for f in self.files)
        )
        object.__setattr__(self, "tags", tuple(self.tags))


@dataclass
class PublishedDataset:
    slug: str
    dataset_id: str
    url: str
    resources: dict[str, str]
    uploaded: list[str]
    unchanged: list[str]


# ---------------------------------------------------------------------------------------------- the run


def publish_release(
    week_dir: Path,
    datasets: list[DatasetPublication],
    settings: DatagouvSettings,
    ids_file: Path,
    *,
    deadline_s: float = 600,
) -> list[PublishedDataset]:
    """Publish `datasets`, whose files are in `week_dir`, to data.gouv.fr; see the module's docstring.

    `ids_file` (YAML, committed) maps each environment and dataset slug to the portal's ids; new ids are
    written into it as they are created. Every HTTP call shares one `deadline_s`. Raises DatagouvError
    (DatagouvSettingsError, LicenceError for a wrong input) on failure; the message never shows the key."""
    deadline = time.monotonic() + deadline_s
    plans = _plan(Path(week_dir), datasets)
    ids = _IdsFile.load(Path(ids_file))
    api = _Api(settings, deadline, deadline_s)
    try:
        api.call("GET", "/api/1/me/")
        plans = _check_extensions(api, plans)
        _check_licences(api, plans)
        staged = [_stage(api, ids, plan) for plan in plans]
        return [_announce(api, stage) for stage in staged]
    finally:
        api.close()
        if ids.changed:
            # Said even when the run failed: the ids of what it created must be committed all the same.
            log.warning("new data.gouv.fr ids were written into %s: commit that file", ids.path)


@dataclass
class _FilePlan:
    file: DatasetFile
    local: Path
    upload_name: str
    digests: dict[str, str]


@dataclass
class _Plan:
    dataset: DatasetPublication
    files: list[_FilePlan]  # referenced schema files first


@dataclass
class _Stage:
    plan: _Plan
    dataset: dict
    resources: dict[str, str]
    uploaded: list[str]
    unchanged: list[str]


def _plan(week_dir: Path, datasets: Sequence[DatasetPublication]) -> list[_Plan]:
    """Every check that needs no network, so that a wrong input fails before the portal is touched."""
    if not week_dir.is_dir():
        raise DatagouvError(f"the release folder {week_dir} does not exist")
    if not datasets:
        raise DatagouvError("nothing to publish: no dataset given")
    slugs = [d.slug for d in datasets]
    if len(set(slugs)) != len(slugs):
        raise DatagouvError(f"a dataset slug is given twice: {', '.join(sorted(slugs))}")
    plans = []
    for dataset in datasets:
        where = f"dataset {dataset.slug!r}"
        if not re.match(r"^[a-z0-9][a-z0-9_-]*$", dataset.slug):
            raise DatagouvError(f"{where}: the slug must be lower case letters, digits, - and _")
        if not dataset.title.strip() or not dataset.description.strip():
            raise DatagouvError(f"{where}: a title and a description are required")
        check_release_licence(dataset.licence)
        start, end = dataset.temporal_coverage
        if not (isinstance(start, dt.date) and isinstance(end, dt.date) and start <= end):
            raise DatagouvError(f"{where}: temporal_coverage must be two dates, start <= end")
        for tag in dataset.tags:
            if not (isinstance(tag, str) and 3 <= len(tag) <= 96 and _TAG.match(tag)):
                raise DatagouvError(f"{where}: tag {tag!r} is not a data.gouv.fr tag (lower case slug, 3-96 chars)")
        if not dataset.files:
            raise DatagouvError(f"{where}: no file to publish")
        files: dict[str, _FilePlan] = {}
        for item in dataset.files:
            files[item.path] = _plan_file(week_dir, where, item, files)
        for item in dataset.files:
            is_local_schema = isinstance(item.schema, str) and not item.schema.startswith(("http://", "https://"))
            if is_local_schema and item.schema not in files:
                raise DatagouvError(
                    f"{where}: the schema of {item.path} is {item.schema!r}, which is neither a URL nor a "
                    "file of this dataset"
                )
        # A file's schema points at another file's resource: that resource must exist first.
        referenced = {f.schema for f in dataset.files if isinstance(f.schema, str)}
        ordered = sorted(files.values(), key=lambda p: p.file.path not in referenced)
        plans.append(_Plan(dataset, ordered))
    return plans


def _plan_file(week_dir: Path, where: str, item: DatasetFile, seen: Mapping[str, _FilePlan]) -> _FilePlan:
    rel = PurePosixPath(item.path)
    if rel.is_absolute() or ".." in rel.parts or not item.path:
        raise DatagouvError(f"{where}: {item.path!r} is not a path relative to the release folder")
    if item.path in seen:
        raise DatagouvError(f"{where}: {item.path} is listed twice")
    if item.type not in RESOURCE_TYPES:
        raise DatagouvError(f"{where}: {item.path} has type {item.type!r}; use {' or '.join(RESOURCE_TYPES)}")
    if not item.title.strip():
        raise DatagouvError(f"{where}: {item.path} has no title")
    if isinstance(item.schema, Mapping) and not (item.schema.get("url") or item.schema.get("name")):
        raise DatagouvError(f"{where}: the schema of {item.path} needs a url or a name")
    local = week_dir / rel
    if not local.is_file():
        raise DatagouvError(f"{where}: {item.path} is not in the release folder {week_dir}")
    upload_name = item.upload_name or rel.name
    if not _UPLOAD_NAME.match(upload_name) or "." not in upload_name:
        raise DatagouvError(
            f"{where}: {upload_name!r} cannot be uploaded: the portal needs a plain file name with an extension "
            "(set upload_name, e.g. SHA256SUMS.txt)"
        )
    if upload_name.lower().endswith(_HTML_SUFFIXES):
        raise DatagouvError(f"{where}: {item.path}: data.gouv.fr refuses every HTML upload (415)")
    return _FilePlan(item, local, upload_name, _digests(local))


def _digests(path: Path) -> dict[str, str]:
    """The file's digests in every algorithm the portal may report: it chooses one (udata 17: sha1)."""
    hashers = {name: hashlib.new(algo) for name, algo in _CHECKSUM_ALGORITHMS.items()}
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            for hasher in hashers.values():
                hasher.update(block)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def _check_extensions(api: _Api, plans: Sequence[_Plan]) -> list[_Plan]:
    """The plans without the optional files whose extension the portal refuses; a refused required file stops
    the release before anything changes."""
    allowed = {ext.lower() for ext in api.call("GET", "/api/1/datasets/extensions/").json()}

    def accepted(fp: _FilePlan) -> bool:
        return fp.upload_name.rsplit(".", 1)[1].lower() in allowed

    refused = [
        f"{fp.file.path} (as {fp.upload_name})" for plan in plans for fp in plan.files
        if not accepted(fp) and not fp.file.optional
    ]
    if refused:
        raise DatagouvError(
            f"{api.base_url} refuses the extension of {', '.join(refused)}; nothing was published. It accepts: "
            f"{', '.join(sorted(allowed))} (set upload_name)"
        )
    left_out = sorted({fp.upload_name.rsplit(".", 1)[1].lower() for plan in plans for fp in plan.files
                       if not accepted(fp)})
    if left_out:
        log.warning("%s does not accept %s files: published without them", api.base_url, ", ".join(left_out))
    return [dataclasses.replace(plan, files=[fp for fp in plan.files if accepted(fp)]) for plan in plans]


def _check_licences(api: _Api, plans: Sequence[_Plan]) -> None:
    """udata replaces a licence id it does not know by `notspecified` without a word: ask it first."""
    known = {item.get("id") for item in api.call("GET", "/api/1/datasets/licenses/").json() if isinstance(item, dict)}
    unknown = sorted({plan.dataset.licence for plan in plans} - known)
    if unknown:
        raise DatagouvError(
            f"{api.base_url} does not know the licence {', '.join(unknown)}; nothing was published. It knows: "
            f"{', '.join(sorted(k for k in known if k))}"
        )


# ------------------------------------------------------------------------------------------------ stage


def _stage(api: _Api, ids: _IdsFile, plan: _Plan) -> _Stage:
    publication = plan.dataset
    dataset = _ensure_dataset(api, ids, publication)
    dataset_id = dataset["id"]
    remote = {r["id"]: r for r in dataset.get("resources") or []}
    recorded = ids.resources(api.environment, publication.slug)
    resources: dict[str, str] = {}
    uploaded: list[str] = []
    unchanged: list[str] = []
    for fp in plan.files:
        path = fp.file.path
        rid = recorded.get(path)
        if rid is not None and rid not in remote:
            log.warning("%s: resource %s recorded for %s is gone; uploading a new one", publication.slug, rid, path)
            rid = None
        if rid is None:
            rid = _find_marked(remote.values(), _MARKER_PATH, path, exclude=set(resources.values()))
            if rid is not None:
                log.warning("%s: reusing resource %s found for %s (not in the ids file)", publication.slug, rid, path)
                ids.set_resource(api.environment, publication.slug, path, rid)
        if rid is None:
            resource = _create_resource(api, dataset_id, fp, set(remote))
            rid = resource["id"]
            ids.set_resource(api.environment, publication.slug, path, rid)
            uploaded.append(path)
        elif _same_checksum(remote[rid], fp.digests):
            resource = remote[rid]
            unchanged.append(path)
        else:
            # Replacing the file of an existing resource is idempotent: retried freely.
            resource = api.upload(f"/api/1/datasets/{dataset_id}/resources/{rid}/upload/", fp).json()
            uploaded.append(path)
        remote[rid] = resource
        resources[path] = rid
        wanted = _resource_metadata(api, fp, resources, remote)
        if any(resource.get(key) != value for key, value in wanted.items() if key != "extras") or any(
            (resource.get("extras") or {}).get(k) != v for k, v in wanted["extras"].items()
        ):
            # An upload also resets the title to the file name: set the metadata after it.
            remote[rid] = api.call("PUT", f"/api/1/datasets/{dataset_id}/resources/{rid}/", json=wanted).json()
        log.info(
            "%s: %s %s (resource %s)", publication.slug, "uploaded" if path in uploaded else "unchanged", path, rid
        )
    dataset = api.call("GET", f"/api/1/datasets/{dataset_id}/").json()
    _verify(api, publication.slug, dataset, plan, resources)
    return _Stage(plan, dataset, resources, uploaded, unchanged)


def _ensure_dataset(api: _Api, ids: _IdsFile, publication: DatasetPublication) -> dict:
    slug = publication.slug
    dataset_id = ids.dataset_id(api.environment, slug)
    if dataset_id is not None:
        response = api.call("GET", f"/api/1/datasets/{dataset_id}/", accept=(404, 410))
        if response.status_code in (404, 410) or response.json().get("deleted"):
            raise DatagouvError(
                f"dataset {dataset_id}, recorded for {api.environment}/{slug} in {ids.path}, no longer exists on "
                f"{api.base_url}; nothing was published. Remove it from that file to have a new dataset created."
            )
        return response.json()
    found = _find_org_dataset(api, slug)
    if found is not None:
        log.warning("%s: reusing dataset %s found in the organisation (not in the ids file)", slug, found["id"])
    else:
        start, end = publication.temporal_coverage
        payload = {
            "title": publication.title,
            "description": publication.description,
            "organization": api.organization,
            "license": publication.licence,
            "frequency": publication.frequency,
            "temporal_coverage": {"start": start.isoformat(), "end": end.isoformat()},
            "tags": list(publication.tags),
            # Private until the release is verified: step 4 makes it public.
            "private": True,
            "extras": {_MARKER_SLUG: slug},
        }
        # Creating is not idempotent: after a lost answer, look for the dataset before posting again.
        found = api.call("POST", "/api/1/datasets/", json=payload, on_transient=lambda: _find_org_dataset(api, slug))
        found = found if isinstance(found, dict) else found.json()
        log.info("%s: created dataset %s", slug, found["id"])
    ids.set_dataset(api.environment, slug, found["id"])
    return api.call("GET", f"/api/1/datasets/{found['id']}/").json()


def _find_org_dataset(api: _Api, slug: str) -> dict | None:
    """A dataset a run created and died before recording: private (a run makes a dataset public only long
    after recording its id), alive, in our organisation, carrying this slug's marker. A public dataset is
    never taken: it may be another service's, published under the same organisation and slug."""
    url: str | None = f"{api.base_url}/api/1/organizations/{api.organization}/datasets/?page_size=100"
    while url:
        page = api.call("GET", url).json()
        for dataset in page.get("data") or []:
            marked = (dataset.get("extras") or {}).get(_MARKER_SLUG) == slug
            if marked and dataset.get("private") and not dataset.get("deleted"):
                return dataset
        url = page.get("next_page")
    return None


def _find_marked(resources, key: str, value: str, exclude: set[str]) -> str | None:
    for resource in resources:
        if (resource.get("extras") or {}).get(key) == value and resource["id"] not in exclude:
            return resource["id"]
    return None


def _create_resource(api: _Api, dataset_id: str, fp: _FilePlan, before: set[str]) -> dict:
    """Upload a file as a new resource. Not idempotent: after a lost answer, a resource that appeared since
    with the same bytes is the one this upload created, and is taken instead of uploading a duplicate."""

    def appeared() -> dict | None:
        dataset = api.call("GET", f"/api/1/datasets/{dataset_id}/").json()
        for resource in dataset.get("resources") or []:
            if resource["id"] not in before and _same_checksum(resource, fp.digests):
                return resource
        return None

    result = api.upload(f"/api/1/datasets/{dataset_id}/upload/", fp, on_transient=appeared)
    return result if isinstance(result, dict) else result.json()


def _resource_metadata(api: _Api, fp: _FilePlan, resources: Mapping[str, str], remote: Mapping[str, dict]) -> dict:
    schema = fp.file.schema
    if schema is None:
        udata_schema = None
    elif isinstance(schema, Mapping):
        udata_schema = {key: schema.get(key) for key in ("url", "name", "version")}
    elif schema.startswith(("http://", "https://")):
        udata_schema = {"url": schema, "name": None, "version": None}
    else:
        target = remote[resources[schema]]
        # `latest` is the portal's stable address of a resource, whatever file it holds this week.
        udata_schema = {
            "url": target.get("latest") or _stable_url(api, resources[schema]),
            "name": None,
            "version": None,
        }
    return {
        "title": fp.file.title,
        "description": fp.file.description,
        "type": fp.file.type,
        "schema": udata_schema,
        "extras": {_MARKER_PATH: fp.file.path},
    }


def _stable_url(api: _Api, resource_id: str) -> str:
    return f"{api.base_url}/api/1/datasets/r/{resource_id}"


def _same_checksum(resource: Mapping, digests: Mapping[str, str]) -> bool:
    checksum = resource.get("checksum") or {}
    return bool(checksum.get("value")) and digests.get(checksum.get("type")) == checksum["value"].lower()


def _verify(api: _Api, slug: str, dataset: dict, plan: _Plan, resources: Mapping[str, str]) -> None:
    remote = {r["id"]: r for r in dataset.get("resources") or []}
    for fp in plan.files:
        path = fp.file.path
        resource = remote.get(resources[path])
        if resource is None:
            raise DatagouvError(f"{slug}: resource {resources[path]} of {path} vanished from {api.base_url}")
        checksum = resource.get("checksum") or {}
        if checksum.get("type") not in _CHECKSUM_ALGORITHMS:
            raise DatagouvError(
                f"{slug}: {path}: the portal reports no checksum this publisher can verify ({checksum})"
            )
        if not _same_checksum(resource, fp.digests):
            raise DatagouvError(
                f"{slug}: {path}: the portal holds {checksum['type']} {checksum.get('value')}, the local file has "
                f"{fp.digests[checksum['type']]}; the previous announcement is kept"
            )


# ----------------------------------------------------------------------------------------------- announce


def _announce(api: _Api, stage: _Stage) -> PublishedDataset:
    publication = stage.plan.dataset
    start, end = publication.temporal_coverage
    wanted = {
        "title": publication.title,
        "description": publication.description,
        "license": publication.licence,
        "frequency": publication.frequency,
        "temporal_coverage": {"start": start.isoformat(), "end": end.isoformat()},
        "tags": sorted(set(publication.tags)),
        "organization": api.organization,
        "private": False,
    }
    dataset = stage.dataset
    if _announcement(dataset) != wanted:
        dataset = api.call("PUT", f"/api/1/datasets/{dataset['id']}/", json=wanted).json()
        log.info("%s: announced %s to %s on dataset %s", publication.slug, end.isoformat(), api.base_url, dataset["id"])
    differs = {key for key, value in _announcement(dataset).items() if wanted[key] != value}
    if differs:
        # udata replaces a licence it does not know by `notspecified` without a word: read back, never trust.
        raise DatagouvError(
            f"{publication.slug}: {api.base_url} did not keep {', '.join(sorted(differs))} of dataset {dataset['id']} "
            f"(sent { ({k: wanted[k] for k in sorted(differs)}) }, holds "
            f"{ ({k: _announcement(dataset)[k] for k in sorted(differs)}) })"
        )
    return PublishedDataset(
        slug=publication.slug,
        dataset_id=dataset["id"],
        url=dataset.get("page") or f"{api.base_url}/datasets/{dataset['id']}/",
        resources=dict(stage.resources),
        uploaded=list(stage.uploaded),
        unchanged=list(stage.unchanged),
    )


def _announcement(dataset: Mapping) -> dict:
    """The announced part of a dataset, in the shape `_announce` sends it."""
    coverage = dataset.get("temporal_coverage") or {}
    licence = dataset.get("license")
    organization = dataset.get("organization")
    return {
        "title": dataset.get("title"),
        "description": dataset.get("description"),
        "license": licence.get("id") if isinstance(licence, Mapping) else licence,
        "frequency": dataset.get("frequency"),
        "temporal_coverage": {"start": (coverage.get("start") or "")[:10], "end": (coverage.get("end") or "")[:10]},
        "tags": sorted(dataset.get("tags") or []),
        "organization": organization.get("id") if isinstance(organization, Mapping) else organization,
        "private": bool(dataset.get("private")),
    }


# ---------------------------------------------------------------------------------------------- ids file


class _IdsFile:
    """The YAML file of ids, `{environment: {slug: {dataset_id, resources: {path: id}}}}`, rewritten whole
    (atomically) each time an id is added, so that a run that dies leaves every id it created on record."""

    def __init__(self, path: Path, data: dict):
        self.path = path
        self.data = data
        self.changed = False

    @classmethod
    def load(cls, path: Path) -> _IdsFile:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
        except (OSError, yaml.YAMLError) as err:
            raise DatagouvError(f"cannot read the ids file {path}: {err}") from None
        data = data or {}
        ok = isinstance(data, dict) and all(
            isinstance(datasets or {}, dict)
            and all(
                isinstance(entry, dict)
                and isinstance(entry.get("dataset_id"), (str, type(None)))
                and isinstance(entry.get("resources") or {}, dict)
                for entry in (datasets or {}).values()
            )
            for datasets in data.values()
        )
        if not ok:
            raise DatagouvError(
                f"the ids file {path} is not shaped as {{environment: {{dataset: {{dataset_id, resources}}}}}}"
            )
        return cls(path, data)

    def dataset_id(self, environment: str, slug: str) -> str | None:
        return ((self.data.get(environment) or {}).get(slug) or {}).get("dataset_id")

    def resources(self, environment: str, slug: str) -> dict[str, str]:
        return dict(((self.data.get(environment) or {}).get(slug) or {}).get("resources") or {})

    def _entry(self, environment: str, slug: str) -> dict:
        datasets = self.data.setdefault(environment, {}) or {}
        self.data[environment] = datasets
        return datasets.setdefault(slug, {"dataset_id": None, "resources": {}})

    def set_dataset(self, environment: str, slug: str, dataset_id: str) -> None:
        entry = self._entry(environment, slug)
        if entry.get("dataset_id") != dataset_id:
            entry["dataset_id"] = dataset_id
            self.save()

    def set_resource(self, environment: str, slug: str, path: str, resource_id: str) -> None:
        entry = self._entry(environment, slug)
        resources = entry.get("resources") or {}
        if resources.get(path) != resource_id:
            resources[path] = resource_id
            entry["resources"] = resources
            self.save()

    def save(self) -> None:
        for environment in ENVIRONMENTS:
            self.data.setdefault(environment, {})
        text = IDS_FILE_HEADER + yaml.safe_dump(self.data, sort_keys=True, allow_unicode=True, default_flow_style=False)
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise DatagouvError(f"cannot write the ids file {self.path}: {err.strerror}") from None
        self.changed = True


# ------------------------------------------------------------------------------------------------- HTTP


class _Api:
    """data.gouv.fr's API through the project's HTTP client (commons_assets.http): 429, 5xx, timeouts and
    dropped connections are retried with backoff and jitter (or after `Retry-After`) until the run's deadline;
    anything else fails at once. This class only turns the client's errors into the publisher's messages."""

    def __init__(self, settings: DatagouvSettings, deadline: float, deadline_s: float):
        self.base_url = settings.base_url
        self.environment = settings.environment
        self.organization = settings.organization
        self._deadline_s = deadline_s
        self._http = http.HttpClient(
            deadline_s=deadline_s,
            deadline_at=deadline,
            secrets=[settings.api_key],
            headers={"X-API-KEY": settings.api_key, "User-Agent": "commons-assets", "Accept": "application/json"},
            connect_timeout=_CONNECT_TIMEOUT,
            read_timeout=_READ_TIMEOUT,
            logger=log,
        )

    def close(self) -> None:
        self._http.close()

    def upload(self, path: str, fp: _FilePlan, on_transient: Callable[[], Any] | None = None):
        return self.call("POST", path, upload=fp, on_transient=on_transient)

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        upload: _FilePlan | None = None,
        accept: Sequence[int] = (),
        on_transient: Callable[[], Any] | None = None,
    ):
        """The response (2xx, or a status in `accept`); or, after a transient failure, what `on_transient`
        found (a non-idempotent call checks there whether its lost answer had in fact succeeded)."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        what = f"{method} {urlsplit(url).path}"
        body = headers = None
        if upload is not None:
            # A fresh stream for each attempt: the previous one was consumed.
            boundary = uuid.uuid4().hex
            headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}

            def body():
                return _Multipart(upload.local, upload.upload_name, boundary)

        try:
            return self._http.request(
                method, url, what=what, json=json, body=body, headers=headers, accept=accept, on_transient=on_transient
            )
        except http.HttpError as err:
            failure = err
        # Raised here, outside the except block: the client's exception is neither the cause nor the context.
        raise self._error(failure, what)

    def _error(self, err: http.HttpError, what: str) -> DatagouvError:
        if isinstance(err, http.Refused):
            if err.status in (401, 403):
                return DatagouvError(f"{ENV_API_KEY} refused by {self.base_url} ({err.status} on {what})")
            # 400, 404, 409, 413, 415…: the request itself is wrong, and would be again.
            return DatagouvError(f"{what} refused by {self.base_url} ({err.status}): {err.text}")
        if isinstance(err, http.GaveUp):
            if err.next_delay is None:
                return DatagouvError(f"{what} on {self.base_url}: {err}")
            return DatagouvError(
                f"{what} on {self.base_url} failed {err.attempts} time(s), last with {err.reason}; gave up: the "
                f"next try, in {err.next_delay:.1f} s, would pass the run's {self._deadline_s:g} s deadline"
            )
        if isinstance(err, http.DeadlinePassed):
            return DatagouvError(f"{what} on {self.base_url}: the {self._deadline_s:g} s deadline passed")
        return DatagouvError(f"{err} (on {self.base_url})")


class _Multipart:
    """A multipart/form-data body holding one file, streamed from disk with its length known in advance, so
    that a large CSV is never read into memory and is sent with a Content-Length (udata needs one)."""

    def __init__(self, path: Path, upload_name: str, boundary: str):
        self.content_type = f"multipart/form-data; boundary={boundary}"
        self._head = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{upload_name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode("ascii")
        self._tail = f"\r\n--{boundary}--\r\n".encode("ascii")
        self._size = len(self._head) + path.stat().st_size + len(self._tail)
        self._parts = [self._head, path.open("rb"), self._tail]

    def __len__(self) -> int:
        return self._size

    def __iter__(self):
        # requests streams a body that is iterable; http.client reads it through read().
        while chunk := self.read(1 << 16):
            yield chunk

    def read(self, size: int = -1) -> bytes:
        out = b""
        while self._parts and (size < 0 or len(out) < size):
            part = self._parts[0]
            want = -1 if size < 0 else size - len(out)
            if isinstance(part, bytes):
                chunk, rest = (part, b"") if want < 0 else (part[:want], part[want:])
                if rest:
                    self._parts[0] = rest
                else:
                    self._parts.pop(0)
            else:
                chunk = part.read(want)
                if not chunk or want < 0:
                    part.close()
                    self._parts.pop(0)
            out += chunk
        return out

    def close(self) -> None:
        for part in self._parts:
            if not isinstance(part, bytes):
                part.close()
        self._parts = []
