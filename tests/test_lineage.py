"""Lineage enforces what the sources yml declares: a published column computed from a direct identifier or
free text of a source blocks, whatever its values look like, unless its yml allows that derivation."""

import pytest

from commons_assets.privacy.lineage import LineageError, lineage_findings, select_lineage
from commons_assets.privacy.policy import load_policy

CATALOG = {"db": {"src": {"users": {"user_id": "int", "email": "text", "bio": "text", "city": "text"},
                          "orders": {"order_id": "int", "user_id": "int", "note": "text"}}}}  # fmt: skip
USERS = '"db"."src"."users"'


def _feeds(sql_text: str) -> dict[str, set[str]]:
    return {c: {f"{t}.{col}" for _, t, col in leaves} for c, leaves in select_lineage(sql_text, CATALOG).items()}


@pytest.mark.parametrize(
    "sql_text, expected",
    [
        (f"select email from {USERS}", {"email": {"users.email"}}),  # direct select
        (f"select email as contact from {USERS}", {"contact": {"users.email"}}),  # rename
        (  # a CTE chain
            f"with a as (select user_id, bio from {USERS}), b as (select user_id, bio as message from a) "
            "select message from b",
            {"message": {"users.bio"}},
        ),
        (  # a join
            f'select o.note, u.city from "db"."src"."orders" o join {USERS} u on u.user_id = o.user_id',
            {"note": {"orders.note"}, "city": {"users.city"}},
        ),
        (  # case and coalesce carry every branch (and a case's condition: its result tells its value)
            f"select case when city = 'x' then bio else 'n/a' end as label, coalesce(city, email) as place "
            f"from {USERS}",
            {"label": {"users.bio", "users.city"}, "place": {"users.city", "users.email"}},
        ),
        (  # counts carry no value: a count of users is not fed by their emails
            f"select city, count(distinct email) as n, count(email) as m, count(*) as o from {USERS} group by city",
            {"city": {"users.city"}, "n": set(), "m": set(), "o": set()},
        ),
        (  # select * is expanded from the upstream columns
            f"with a as (select * from {USERS}) select * from a",
            {"user_id": {"users.user_id"}, "email": {"users.email"}, "bio": {"users.bio"}, "city": {"users.city"}},
        ),
    ],
)
def test_select_lineage_finds_the_source_columns_each_output_is_computed_from(sql_text, expected):
    assert _feeds(sql_text) == expected


def test_a_string_aggregate_still_carries_the_values():
    # the near miss of the count exclusion: string_agg publishes every value it aggregates
    assert _feeds(f"select string_agg(bio, ',') as all_bios from {USERS}") == {"all_bios": {"users.bio"}}


def test_unreadable_sql_fails_closed():
    with pytest.raises(LineageError):
        select_lineage("select from where", CATALOG)


def _manifest(mart_sql: str, allowed: list | None = None) -> dict:
    def model(name, path, sql_text, deps, columns=None, meta=None):
        return {"resource_type": "model", "name": name, "unique_id": f"model.p.{name}", "database": "db",
                "schema": "analytics", "original_file_path": path, "compiled_code": sql_text,
                "depends_on": {"nodes": deps}, "columns": columns or {}, "config": {"meta": meta or {}}}  # fmt: skip

    column_meta = {"privacy": "public", **({"derived_from_allowed": allowed} if allowed is not None else {})}
    return {
        "sources": {
            "source.p.service.users": {
                "source_name": "service", "name": "users", "schema": "src", "database": "db",
                "original_file_path": "models/staging/_sources.yml",
                "columns": {"user_id": {"meta": {"privacy": "internal_id"}},
                            "email": {"meta": {"privacy": "direct_identifier"}},
                            "bio": {"meta": {"privacy": "free_text"}},
                            "city": {"meta": {"privacy": "public"}}},
            }
        },
        "nodes": {
            "model.p.stg_users": model(
                "stg_users", "models/staging/stg_users.sql", 'select user_id, bio, city from "db"."src"."users"',
                ["source.p.service.users"],
            ),
            "model.p.mart": model(
                "mart", "models/marts/open_data/mart.sql", mart_sql, ["model.p.stg_users"],
                columns={"city": {"meta": {"privacy": "public"}}, "label": {"meta": column_meta}},
                meta={"publish": {"dataset": "mart", "title": "Mart", "description": "Un jeu.", "licence": "lov2",
                                  "kind": "records"}},
            ),
        },
    }


def _findings(manifest):
    return lineage_findings(manifest, load_policy(manifest), lambda node: node.get("compiled_code"))


def test_free_text_published_under_an_innocent_name_blocks_naming_column_source_and_file():
    manifest = _manifest('select city, upper(bio) as label from "db"."analytics"."stg_users"')
    [finding] = _findings(manifest)
    assert (finding.model, finding.column, finding.source, finding.source_column) == ("mart", "label", "users", "bio")
    assert "mart.label" in finding.message and "users.bio" in finding.message
    assert "models/marts/open_data/mart.sql" in finding.message and "models/staging/stg_users.sql" in finding.message


def test_a_derivation_allowed_with_a_reason_passes_but_not_without_one():
    sql_text = 'select city, upper(bio) as label from "db"."analytics"."stg_users"'
    assert _findings(_manifest(sql_text, [{"source": "users.bio", "reason": "une catégorie"}])) == []
    assert len(_findings(_manifest(sql_text, [{"source": "users.bio", "reason": ""}]))) == 1
    assert len(_findings(_manifest(sql_text, [{"source": "users.city", "reason": "autre colonne"}]))) == 1


def test_a_count_of_free_text_does_not_block():
    manifest = _manifest('select city, count(distinct bio)::text as label from "db"."analytics"."stg_users" group by 1')
    assert _findings(manifest) == []


def test_a_model_without_compiled_sql_fails_closed_naming_it():
    manifest = _manifest('select city, city as label from "db"."analytics"."stg_users"')
    manifest["nodes"]["model.p.stg_users"]["compiled_code"] = None
    with pytest.raises(LineageError, match=r"stg_users \(models/staging/stg_users.sql\)"):
        _findings(manifest)


@pytest.fixture(scope="module")
def compiled_demo(warehouse_info, manifest) -> dict:
    """The Signalo demo as `dbt compile` leaves it: every model's compiled SQL, in a target folder of our own."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from commons_assets.dbt.project import service_project_dir
    from tests.conftest import dbt_env

    env = dbt_env(warehouse_info)
    project_dir = service_project_dir()
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "compile", "--quiet", "--project-dir", str(project_dir),
         "--profiles-dir", str(project_dir), "--vars", json.dumps({"release_week": "2026-W10"})],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads((Path(env["DBT_TARGET_PATH"]) / "manifest.json").read_text())


def test_the_demo_publishes_nothing_computed_from_identifiers_or_free_text(compiled_demo):
    from commons_assets.privacy.lineage import published_feeds

    feeds = published_feeds(compiled_demo, load_policy(compiled_demo), lambda node: node.get("compiled_code"))
    # the lineage did reach the sources through the demo's models (a passing check that saw nothing proves nothing)
    reached = {(f.source, f.column) for columns in feeds.values() for fs in columns.values() for f in fs}
    assert ("reports", "category_code") in reached or any(source == "reports" for source, _ in reached), reached
    assert _findings(compiled_demo) == []


def test_free_text_planted_in_an_innocent_demo_column_blocks_with_the_three_names(compiled_demo):
    import copy

    planted = copy.deepcopy(compiled_demo)
    policy = load_policy(planted)
    [staging] = [n for n in planted["nodes"].values() if n.get("name") == "stg_service__reports"]
    # the report's status now carries the free-text message: no detector would recognise its values
    assert "status as report_status" in staging["compiled_code"]
    staging["compiled_code"] = staging["compiled_code"].replace(
        "status as report_status", "status || message as report_status"
    )
    findings = lineage_findings(planted, policy, lambda node: node.get("compiled_code"))
    assert findings, "the planted free text went through"
    assert {(f.source, f.source_column, f.privacy) for f in findings} == {("reports", "message", "free_text")}
    published = {f.model for f in findings}
    assert published, findings
    finding = findings[0]
    assert f"{finding.model}.{finding.column}" in finding.message and "reports.message" in finding.message
    assert finding.model_file.startswith("models/marts/open_data/") and finding.model_file in finding.message
    assert "models/staging/service/stg_service__reports.sql" in finding.message


def test_the_gate_check_blocks_without_the_runs_compiled_manifest_and_reports_each_feed(tmp_path):
    from commons_assets.privacy.gate import lineage_check
    from commons_assets.privacy.lineage import run_manifest

    manifest = _manifest('select city, upper(bio) as label from "db"."analytics"."stg_users"')
    policy = load_policy(manifest)
    [model] = policy.published
    [missing] = lineage_check(model, policy, None, tmp_path)
    assert missing.check == "lineage" and "no compiled dbt manifest" in missing.message
    [finding] = lineage_check(model, policy, manifest, tmp_path)
    assert (finding.check, finding.column) == ("lineage", "label") and "users.bio" in finding.message
    # the manifest of this run's dbt build, not another run's
    import json

    for run in ("abcdef1", "1234567"):
        (tmp_path / "target" / f"service_dbt_models-{run}-xyz").mkdir(parents=True)
        (tmp_path / "target" / f"service_dbt_models-{run}-xyz" / "manifest.json").write_text(json.dumps({"run": run}))
    assert run_manifest(tmp_path, "abcdef1-rest-of-the-run-id") == {"run": "abcdef1"}
    assert run_manifest(tmp_path, "9999999-other") is None
