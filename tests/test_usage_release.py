"""Usage statistics through the real pipeline: frozen weeks, Matomo as a second source, unknown event names.

Two releases, as a service would make them on two consecutive Mondays:
1. 2026-W46, Matomo off;
2. late events arrive for 2026-W46 (a replica catching up), events with an unknown name holding an e-mail are
   recorded in 2026-W47, Matomo is turned on (a fake Matomo on loopback), and 2026-W47 is released.

Matomo's settings are read from the environment when the Definitions are built (the token through dg.EnvVar),
and the CLI builds them once per process. So the second release runs on Definitions rebuilt with the Matomo
variables set, put in place of `commons_assets.definitions.defs` for that release only: the same code the CLI
runs, without paying for a second Python process; the variables and the Definitions are restored afterwards.

The usage part of the ledger and the Matomo table are emptied for this module and restored after it, so that
what is frozen here is exactly what these two releases published, whatever other modules released before.
"""

import copy
import csv
import datetime as dt
import re
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from commons_assets import cli
from commons_assets.ledger import FROZEN_USAGE_TABLE as LEDGER_TABLE
from commons_assets.ledger import ensure_frozen_usage, ensure_ledger, ledger_schema, record_published_usage
from commons_assets.privacy.policy import PublishedColumn, PublishedModel, PublishSpec
from commons_assets.service import UsageDataset, usage_event_source
from commons_assets.settings import get_settings
from commons_assets.usage.assets import (
    EXEMPTION_ASSET,
    MATOMO_ASSET,
    MATOMO_SCHEMA_SETTING,
    MatomoResource,
    build_usage_assets,
    ensure_matomo_table,
    exemption_conditions,
    exemption_markdown,
    matomo_resource,
    matomo_schema,
)
from commons_assets.usage.matomo import MatomoSettingsError
from commons_assets.warehouse import WarehouseResource
from tests.conftest import SOURCE_SCHEMA
from tests.fake_matomo import TOKEN, serve
from tests.release_files import published_text

FIRST_WEEK = "2026-W46"
SECOND_WEEK = "2026-W47"
DATASET = "usage-fonctionnalites"
COUNT_COLUMNS = ("nombre_evenements", "nombre_visites", "nombre_visiteurs")
K = 11
LATE_EVENTS = 40  # dated in FIRST_WEEK, recorded after its release
PLANTED_EMAIL = "camille.planted@exemple.fr"
PLANTED_NAME = f"/partage?email={PLANTED_EMAIL}"
PLANTED_EVENTS = 15  # in SECOND_WEEK, under a name the catalogue does not know
# Labels of tests/fixtures/matomo that carry personal data
MATOMO_PERSONAL_LABELS = ("jeanne.martin@example.fr", "12 rue des Lilas")


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _usage(target: Path, week: str) -> list[dict]:
    return _rows(target / week / DATASET / f"{DATASET}.csv")


def _insert_events(conn, rows: list[tuple[str, dt.datetime, str, str]]) -> None:
    """(event_name, occurred_at, visitor_id, session_id) rows, with ids above the largest one."""
    (last_id,) = conn.execute(f"select coalesce(max(event_id), 0) from {SOURCE_SCHEMA}.events").fetchone()
    with conn.cursor() as cur:
        cur.executemany(
            f"insert into {SOURCE_SCHEMA}.events (event_id, event_name, occurred_at, visitor_id, session_id, "
            "user_id, ip_address, user_agent, page_url) values (%s, %s, %s, %s, %s, null, '192.0.0.0', "
            "'Mozilla/5.0', '/')",
            [(last_id + i, *row) for i, row in enumerate(rows, start=1)],
        )


def _catalogue() -> str:
    return f'"{get_settings().dbt_target_schema}_reference"."feature_catalogue"'


def _latest_metadata(instance: dg.DagsterInstance, asset: str, partition: str) -> dict:
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    assert event is not None, f"{asset} was not materialised"
    materialization = event.asset_materialization
    assert materialization.partition == partition
    return {key: value.value for key, value in materialization.metadata.items()}


@pytest.fixture(scope="module")
def isolated_usage_state(demo_counts, warehouse_info):
    """Empty usage ledger and Matomo table for the releases below (the module's database is its own: the
    tests of this module that run before may have written to them)."""
    schema = matomo_schema()
    with psycopg.connect(warehouse_info.conninfo(), autocommit=True) as conn:
        ensure_ledger(conn)
        ensure_matomo_table(conn, schema)
        conn.execute(f'delete from "{ledger_schema()}"."{LEDGER_TABLE}"')
        conn.execute(f'delete from "{schema}"."matomo_weekly_usage"')


@pytest.fixture(scope="module")
def usage_releases(isolated_usage_state, warehouse_info, tmp_path_factory):
    """The two releases; returns (target, facts measured along the way)."""
    from commons_assets import definitions

    target = tmp_path_factory.mktemp("usage")
    instance = dg.DagsterInstance.get()
    facts: dict = {}

    with pytest.MonkeyPatch.context() as patch:
        for variable in ("MATOMO_URL", "MATOMO_SITE_ID", "MATOMO_TOKEN"):
            patch.delenv(variable, raising=False)
        patch.setattr(definitions, "defs", definitions.build_definitions())
        assert cli.main(["release", "--week", FIRST_WEEK, "--target", str(target)]) == 0
    facts["matomo_off"] = _latest_metadata(instance, MATOMO_ASSET, "2026-11-09")
    facts["exemption_off"] = _latest_metadata(instance, EXEMPTION_ASSET, "2026-11-09")

    with psycopg.connect(warehouse_info.conninfo()) as conn:
        wednesday = dt.datetime(2026, 11, 11, 14, 0, tzinfo=dt.UTC)
        late = [("connexion", wednesday + dt.timedelta(minutes=i), f"late-v{i}", f"late-s{i}")
                for i in range(LATE_EVENTS)]
        thursday = dt.datetime(2026, 11, 19, 10, 0, tzinfo=dt.UTC)
        planted = [(PLANTED_NAME, thursday + dt.timedelta(minutes=i), f"planted-v{i}", f"planted-s{i}")
                   for i in range(PLANTED_EVENTS)]
        _insert_events(conn, late + planted)
        # what the first week would read now, were it computed again
        (facts["first_week_events_now"],) = conn.execute(
            f"select count(*) from {SOURCE_SCHEMA}.events "
            "where to_char(occurred_at at time zone 'Europe/Paris', 'IYYY-\"W\"IW') = %s",
            (FIRST_WEEK,),
        ).fetchone()
        # every event of the second week whose name the catalogue does not know: « autre »
        (facts["second_week_autre"],) = conn.execute(
            f"select count(*) from {SOURCE_SCHEMA}.events as e "
            "where to_char(e.occurred_at at time zone 'Europe/Paris', 'IYYY-\"W\"IW') = %s "
            f"and not exists (select 1 from {_catalogue()} as c where c.event_name = e.event_name)",
            (SECOND_WEEK,),
        ).fetchone()

    with serve() as fake, pytest.MonkeyPatch.context() as patch:
        patch.setenv("MATOMO_URL", fake.base_url)
        patch.setenv("MATOMO_SITE_ID", "3")
        patch.setenv("MATOMO_TOKEN", TOKEN)
        patch.setenv("MATOMO_DECLARED_IP_MASKED_BYTES", "2")
        patch.setenv("MATOMO_DECLARED_VISITOR_COOKIE_DAYS", "393")
        patch.setenv("MATOMO_DECLARED_RAW_DATA_RETENTION_DAYS", "730")
        patch.setattr(definitions, "defs", definitions.build_definitions())
        assert cli.main(["release", "--week", SECOND_WEEK, "--target", str(target)]) == 0
        facts["matomo_requests"] = list(fake.requests)
    facts["matomo_on"] = _latest_metadata(instance, MATOMO_ASSET, "2026-11-16")
    facts["exemption_on"] = _latest_metadata(instance, EXEMPTION_ASSET, "2026-11-16")
    with psycopg.connect(warehouse_info.conninfo()) as conn:
        facts["matomo_labels"] = [
            label for (label,) in conn.execute(
                f'select distinct label from "{matomo_schema()}".matomo_weekly_usage where week = %s',
                (SECOND_WEEK,),
            ).fetchall()
        ]
        facts["catalogue"] = {
            name for (name,) in conn.execute(
                f"select event_name from {_catalogue()}"
            ).fetchall()
        }
    return target, facts


# --- the pieces, without a release (seconds) --------------------------------------------------------------------

def test_the_matomo_resource_uses_envvars_only_for_variables_that_are_set(monkeypatch):
    for variable in ("MATOMO_URL", "MATOMO_SITE_ID", "MATOMO_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    off = matomo_resource()
    assert (off.url, off.site_id, off.token) == (None, None, None)
    assert off.settings() is None
    monkeypatch.setenv("MATOMO_URL", "https://stats.example.gouv.fr")
    monkeypatch.setenv("MATOMO_SITE_ID", "3")
    monkeypatch.setenv("MATOMO_TOKEN", TOKEN)
    on = matomo_resource()
    # deferred to run time: the token is never a plain value of the resource's config
    assert [f.env_var_name for f in (on.url, on.site_id, on.token)] == ["MATOMO_URL", "MATOMO_SITE_ID", "MATOMO_TOKEN"]
    assert all(isinstance(f, dg.EnvVar) for f in (on.url, on.site_id, on.token))
    settings = MatomoResource(url="https://stats.example.gouv.fr/", site_id="3", token=TOKEN).settings()
    assert (settings.url, settings.site_id) == ("https://stats.example.gouv.fr", 3)
    with pytest.raises(MatomoSettingsError, match="MATOMO_TOKEN"):
        MatomoResource(url="https://stats.example.gouv.fr", site_id="3").settings()


def test_the_matomo_asset_creates_the_table_when_off_and_loads_the_week_when_on(db):
    schema = "test_usage_matomo_asset"
    db.execute(f"drop schema if exists {schema} cascade")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(MATOMO_SCHEMA_SETTING, schema)
            [matomo_asset, _] = build_usage_assets()
            off = dg.materialize([matomo_asset], partition_key="2026-11-16",
                                 resources={"warehouse": WarehouseResource(), "matomo": MatomoResource()})
            assert off.success
            assert db.execute(f"select count(*) from {schema}.matomo_weekly_usage").fetchone() == (0,)
            [event] = off.get_asset_materialization_events()
            assert event.materialization.metadata["enabled"].value is False
            with serve() as fake:
                resource = MatomoResource(url=fake.base_url, site_id="3", token=TOKEN)
                for _ in range(2):  # a second run of the same week replaces it
                    on = dg.materialize([matomo_asset], partition_key="2026-11-16",
                                        resources={"warehouse": WarehouseResource(), "matomo": resource})
                    assert on.success
            counts = db.execute(
                f"select week, count(*) from {schema}.matomo_weekly_usage group by week"
            ).fetchall()
            assert counts == [("2026-W47", 22)]
            # off again: the table and what was loaded are left as they are
            assert dg.materialize([matomo_asset], partition_key="2026-11-16",
                                  resources={"warehouse": WarehouseResource(), "matomo": MatomoResource()}).success
            assert db.execute(f"select count(*) from {schema}.matomo_weekly_usage").fetchone() == (22,)
    finally:
        db.execute(f"drop schema if exists {schema} cascade")


def test_a_matomo_failure_fails_the_asset_with_one_line_and_no_token(db, caplog):
    schema = "test_usage_matomo_asset"
    try:
        with pytest.MonkeyPatch.context() as patch, serve() as fake:
            patch.setenv(MATOMO_SCHEMA_SETTING, schema)
            [matomo_asset, _] = build_usage_assets()
            wrong = MatomoResource(url=fake.base_url, site_id="3", token="0" * 32)
            result = dg.materialize([matomo_asset], partition_key="2026-11-16", raise_on_error=False,
                                    resources={"warehouse": WarehouseResource(), "matomo": wrong})
        assert not result.success
        [failure] = [e for e in result.all_events if e.is_step_failure]
        description = failure.step_failure_data.user_failure_data.description
        assert "Unable to authenticate" in description and "0" * 32 not in description
    finally:
        db.execute(f"drop schema if exists {schema} cascade")


def test_the_exemption_report_is_metadata_in_french_with_one_boolean_per_condition(demo_counts, monkeypatch):
    for variable in ("MATOMO_URL", "MATOMO_SITE_ID", "MATOMO_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    [_, report] = build_usage_assets()
    result = dg.materialize([report], partition_key="2026-11-16",
                            resources={"warehouse": WarehouseResource(), "matomo": MatomoResource()})
    [event] = result.get_asset_materialization_events()
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    assert metadata["week"] == "2026-W47"
    table = metadata["conditions"]
    assert table.splitlines()[0] == "| Source | Condition | Respectée | Valeur mesurée |"
    assert len(table.splitlines()) == 2 + 3
    assert "Adresses IP tronquées" in table and ("✔" in table or "✘" in table)
    assert {k for k, v in metadata.items() if isinstance(v, bool)} == {
        "ip_truncated", "visitor_id_lifetime", "raw_event_retention", "all_conditions_hold",
    }
    # as of the end of the week: the same conditions as the helper the export uses
    with WarehouseResource().connect() as conn:
        conditions = exemption_conditions(conn, "2026-11-16", env={})
    assert {c.code: c.holds for c in conditions} == {
        k: metadata[k] for k in ("ip_truncated", "visitor_id_lifetime", "raw_event_retention")
    }
    assert exemption_markdown(conditions) == table


def _without_event_source(manifest: dict) -> dict:
    """The manifest of a service that declares no event table (usage from Matomo only, or no usage at all)."""
    variant = copy.deepcopy(manifest)
    for source in variant["sources"].values():
        for meta in (source.get("meta") or {}, (source.get("config") or {}).get("meta") or {}):
            if isinstance(meta.get("commons"), dict):
                meta.pop("commons")
    assert usage_event_source(variant) is None
    return variant


def test_the_exemption_report_depends_on_the_declared_event_table_only(manifest):
    [_, report] = build_usage_assets(manifest)
    assert dg.AssetKey(["service", "events"]) in report.dependency_keys
    [_, undeclared] = build_usage_assets(_without_event_source(manifest))
    assert not {key for key in undeclared.dependency_keys if key.path[0] == "service"}


@pytest.mark.parametrize("matomo_on", [False, True], ids=["no-usage-source", "matomo-only"])
def test_without_a_declared_event_table_the_report_measures_matomo_only_and_never_claims_success(
    demo_counts, manifest, monkeypatch, matomo_on
):
    """Cases b and c of a service without an event table of its own, on the demo's database (whose `events`
    table is there, undeclared: it must not be read): the usage assets still materialise; nothing is claimed
    as met that was not measured."""
    matomo = {"MATOMO_URL": "https://stats.example.gouv.fr", "MATOMO_SITE_ID": "3", "MATOMO_TOKEN": TOKEN}
    for variable, value in matomo.items():
        if matomo_on:
            monkeypatch.setenv(variable, value)
        else:
            monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("MATOMO_DECLARED_IP_MASKED_BYTES", "2")
    monkeypatch.setenv(MATOMO_SCHEMA_SETTING, "test_usage_no_events")
    resource = MatomoResource(**{"url": matomo["MATOMO_URL"], "site_id": "3", "token": TOKEN} if matomo_on else {})
    [matomo_asset, report] = build_usage_assets(_without_event_source(manifest))
    try:
        # the Matomo load itself is covered elsewhere: only the report runs here, the Matomo table off
        result = dg.materialize([report], partition_key="2026-11-16",
                                resources={"warehouse": WarehouseResource(), "matomo": resource})
        assert result.success
        [event] = result.get_asset_materialization_events()
        metadata = {k: v.value for k, v in event.materialization.metadata.items()}
        assert metadata["all_conditions_hold"] is False
        assert not {"ip_truncated", "visitor_id_lifetime", "raw_event_retention"} & metadata.keys()
        if matomo_on:
            assert metadata["matomo_ip_truncated"] is True
            assert "Mesure interne du service" not in metadata["conditions"]
            # undeclared by the operator: not met
            assert metadata["matomo_visitor_id_lifetime"] is False
        else:
            assert metadata["conditions"].startswith("Aucune source de mesure d'audience n'est déclarée")
            assert "✔" not in metadata["conditions"]
        off = dg.materialize([matomo_asset], partition_key="2026-11-16",
                             resources={"warehouse": WarehouseResource(), "matomo": MatomoResource()})
        assert off.success
    finally:
        with WarehouseResource().connect() as conn:
            conn.execute("drop schema if exists test_usage_no_events cascade")


def _usage_contract(schema: str) -> UsageDataset:
    # column names of no service: the ledger must take them from the contract, whatever they are
    columns = [("wk", "text", "week"), ("origin", "text", "source"), ("code", "text", "feature"),
               ("label", "text", "feature_label"), ("n_events", "bigint", "events"), ("n_visits", "bigint", "visits"),
               ("n_people", "bigint", "visitors")]
    spec = PublishSpec(dataset="usage-test", title="usage", description="usage", licence="lov2", kind="aggregate",
                       count_columns=["n_events", "n_visits", "n_people"])
    model = PublishedModel(
        name="usage_mart", unique_id="model.x.usage_mart", schema=schema, relation=f'"{schema}"."mart"', spec=spec,
        columns=tuple(PublishedColumn(name=n, privacy="public", data_type=t, description="") for n, t, _ in columns),
    )
    return UsageDataset(model=model, roles={role: name for name, _, role in columns})


def test_record_published_usage_keeps_the_first_publication_with_the_contracts_columns(db):
    schema = "test_usage_frozen"
    db.execute(f"drop schema if exists {schema} cascade")
    db.execute(f"create schema {schema}")
    usage = _usage_contract(schema)
    try:
        ensure_frozen_usage(db, schema, usage)
        db.execute(
            f"create table {schema}.mart (wk text, origin text, code text, label text, n_events bigint, "
            "n_visits bigint, n_people bigint)"
        )
        db.execute(
            f"insert into {schema}.mart values ('2026-W46', 'service', 'total', 'Toutes', 50, 20, 15), "
            "('2026-W47', 'service', 'total', 'Toutes', 60, 25, null), "
            "('2026-W48', 'service', 'total', 'Toutes', 70, 30, 20)"
        )
        assert record_published_usage(db, ledger_schema=schema, usage=usage, week="2026-W47") == 2
        db.execute(f"update {schema}.mart set n_events = n_events + 5")
        assert record_published_usage(db, ledger_schema=schema, usage=usage, week="2026-W48") == 1
        assert db.execute(
            f"select wk, n_events, n_people, published_in_week from {schema}.{LEDGER_TABLE} order by wk"
        ).fetchall() == [("2026-W46", 50, 15, "2026-W47"), ("2026-W47", 60, None, "2026-W47"),
                         ("2026-W48", 75, 20, "2026-W48")]
        key = db.execute(
            "select array_agg(a.attname::text order by a.attname) from pg_index i join pg_attribute a "
            "on a.attrelid = i.indrelid and a.attnum = any(i.indkey) "
            "where i.indisprimary and i.indrelid = %s::regclass",
            (f"{schema}.{LEDGER_TABLE}",),
        ).fetchone()[0]
        assert key == ["code", "origin", "wk"]
        bad = UsageDataset(
            model=PublishedModel(**{**usage.model.__dict__, "relation": "mart; drop table x"}), roles=usage.roles
        )
        with pytest.raises(ValueError):
            record_published_usage(db, ledger_schema=schema, usage=bad, week="2026-W47")
    finally:
        db.execute(f"drop schema if exists {schema} cascade")


# --- frozen weeks ---------------------------------------------------------------------------------------------

@pytest.mark.e2e
def test_a_published_week_is_not_revised_by_late_events(usage_releases):
    target, facts = usage_releases
    first = [r for r in _usage(target, FIRST_WEEK) if r["semaine"] == FIRST_WEEK]
    again = [r for r in _usage(target, SECOND_WEEK) if r["semaine"] == FIRST_WEEK]
    assert first, "the first release publishes its own week"
    key = lambda r: (r["source"], r["fonctionnalite"])  # noqa: E731
    assert sorted(again, key=key) == sorted(first, key=key)
    # and freezing was needed: computed again, the week would have moved by the late events
    [total] = [r for r in first if r["source"] == "service" and r["fonctionnalite"] == "total"]
    assert int(total["nombre_evenements"]) == facts["first_week_events_now"] - LATE_EVENTS


@pytest.mark.e2e
def test_every_week_published_first_is_published_again_unchanged(usage_releases):
    target, _ = usage_releases
    before = _usage(target, FIRST_WEEK)
    after = [r for r in _usage(target, SECOND_WEEK) if r["semaine"] <= FIRST_WEEK]
    key = lambda r: (r["semaine"], r["source"], r["fonctionnalite"])  # noqa: E731
    assert sorted(after, key=key) == sorted(before, key=key)
    assert any(r["semaine"] == SECOND_WEEK for r in _usage(target, SECOND_WEEK))


# --- Matomo as a second source --------------------------------------------------------------------------------

@pytest.mark.e2e
def test_matomo_is_loaded_before_dbt_and_only_when_configured(usage_releases):
    _, facts = usage_releases
    assert facts["matomo_off"]["enabled"] is False
    assert facts["matomo_on"]["enabled"] is True
    assert facts["matomo_on"]["rows"] == 22  # 6 categories, 9 actions, 6 page URLs, 1 visits summary
    assert {r["query"]["method"] for r in facts["matomo_requests"]} == {
        "Events.getCategory", "Events.getAction", "Actions.getPageUrls", "VisitsSummary.get"
    }
    assert {r["query"]["date"] for r in facts["matomo_requests"]} == {"2026-11-16"}


@pytest.mark.e2e
def test_usage_is_published_from_both_sources(usage_releases):
    target, _ = usage_releases
    week = [r for r in _usage(target, SECOND_WEEK) if r["semaine"] == SECOND_WEEK]
    assert {r["source"] for r in week} == {"service", "matomo"}
    matomo = {r["fonctionnalite"]: r for r in week if r["source"] == "matomo"}
    # the visits summary is Matomo's weekly total; its unique visitors are published as Matomo gives them
    assert (matomo["total"]["nombre_evenements"], matomo["total"]["nombre_visites"],
            matomo["total"]["nombre_visiteurs"]) == ("9873", "2406", "1843")
    assert matomo["consultation_carte"]["nombre_evenements"] == "3127"
    # Matomo gives no distinct visitors per event action for a week: empty, never its sum of daily uniques
    assert matomo["consultation_carte"]["nombre_visiteurs"] == ""
    # the one unknown action (an address typed in a search) is « autre », 1 event: suppressed; the smallest
    # other cell (inscription, 17) is suppressed too, or it would be recomputable from the total
    assert matomo["autre"]["nombre_evenements"] == ""
    assert matomo["inscription"]["nombre_evenements"] == ""
    assert {r["fonctionnalite"] for r in week if r["source"] == "service"} >= {"total", "autre"}


@pytest.mark.e2e
def test_no_raw_matomo_label_is_published(usage_releases):
    target, facts = usage_releases
    text = published_text(target / SECOND_WEEK)
    for label in MATOMO_PERSONAL_LABELS:
        assert label not in text
    raw_labels = [lab for lab in facts["matomo_labels"] if lab not in facts["catalogue"] and lab != "total"]
    assert len(raw_labels) >= 10  # categories, page URLs and the unknown action of the fixtures
    published_fields = {
        value for row in _usage(target, SECOND_WEEK) for value in row.values()
    }
    assert not set(raw_labels) & published_fields


@pytest.mark.e2e
def test_no_published_count_is_under_k(usage_releases):
    target, _ = usage_releases
    for week in (FIRST_WEEK, SECOND_WEEK):
        for row in _usage(target, week):
            for column in COUNT_COLUMNS:
                assert row[column] == "" or int(row[column]) >= K, (week, row["source"], row["fonctionnalite"])


@pytest.mark.e2e
def test_the_matomo_token_is_kept_out_of_runs_logs_and_the_release(usage_releases, commons_env):
    target, _ = usage_releases
    # the Dagster home (run config, event log, compute logs), the CLI's logs, and the release itself
    for root in (commons_env / "dagster", commons_env / "logs", target):
        for path in root.rglob("*"):
            if path.is_file():
                assert TOKEN.encode() not in path.read_bytes(), path


# --- unknown event names --------------------------------------------------------------------------------------

@pytest.mark.e2e
def test_unknown_event_names_are_counted_as_autre_and_never_published(usage_releases):
    target, facts = usage_releases
    assert PLANTED_EMAIL not in published_text(target / SECOND_WEEK)
    assert "partage" not in {r["fonctionnalite"] for r in _usage(target, SECOND_WEEK)}
    [autre] = [
        r for r in _usage(target, SECOND_WEEK)
        if r["semaine"] == SECOND_WEEK and r["source"] == "service" and r["fonctionnalite"] == "autre"
    ]
    # the planted events are in « autre », with every other name the catalogue does not know
    assert autre["nombre_evenements"] in ("", str(facts["second_week_autre"]))
    assert facts["second_week_autre"] >= PLANTED_EVENTS


# --- the CNIL exemption report --------------------------------------------------------------------------------

@pytest.mark.e2e
def test_the_exemption_report_is_shown_for_each_release(usage_releases):
    _, facts = usage_releases
    off, on = facts["exemption_off"], facts["exemption_on"]
    for report in (off, on):
        assert "| Source | Condition | Respectée | Valeur mesurée |" in report["conditions"]
        assert {"ip_truncated", "visitor_id_lifetime", "raw_event_retention"} <= report.keys()
        assert all(isinstance(report[c], bool) for c in ("ip_truncated", "visitor_id_lifetime"))
    assert "matomo_ip_truncated" not in off
    assert on["matomo_ip_truncated"] is True
    assert on["matomo_visitor_id_lifetime"] is True
    assert on["matomo_raw_event_retention"] is True
    assert "Matomo" in on["conditions"]
    # counts and durations only: no address, no identifier
    for report in (off, on):
        assert not re.search(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b", report["conditions"])
        assert "planted-v" not in report["conditions"] and "late-v" not in report["conditions"]
