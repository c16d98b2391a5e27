"""The privacy policy fails closed: anything unclassified, unknown or undeclared is an error that says what to
write and where."""

import copy

import pytest

from commons_assets.privacy.policy import PolicyError, load_policy, schema_drift_message, unclassified_columns


def _manifest() -> dict:
    return {
        "sources": {
            "source.commons_assets.service.users": {
                "source_name": "service",
                "name": "users",
                "schema": "service",
                "original_file_path": "models/staging/service/_service__sources.yml",
                "columns": {
                    "user_id": {"meta": {"privacy": "internal_id"}},
                    "email": {"meta": {"privacy": "direct_identifier"}},
                    "birth_date": {"meta": {"privacy": "quasi_identifier"}},
                },
            }
        },
        "nodes": {
            "model.commons_assets.cohorts": {
                "resource_type": "model",
                "name": "cohorts",
                "unique_id": "model.commons_assets.cohorts",
                "schema": "commons_open_data",
                "original_file_path": "models/marts/open_data/cohorts.sql",
                "config": {
                    "meta": {
                        "publish": {
                            "dataset": "cohortes",
                            "title": "Cohortes",
                            "description": "Des cohortes.",
                            "licence": "lov2",
                            "kind": "aggregate",
                            "quasi_identifiers": ["semaine"],
                            "count_columns": ["nombre"],
                        }
                    }
                },
                "columns": {
                    "semaine": {"data_type": "text", "meta": {"privacy": "quasi_identifier"}},
                    "nombre": {"data_type": "bigint", "meta": {"privacy": "count"}},
                },
            }
        },
    }


def test_a_complete_policy_loads():
    policy = load_policy(_manifest())
    [model] = policy.published
    assert model.dataset == "cohortes" and model.spec.k == 11
    assert model.column_names == ["semaine", "nombre"]
    assert policy.direct_identifier_columns() == [("users", "email")]


def test_unclassified_source_column_names_table_column_and_the_yml_to_add():
    manifest = _manifest()
    manifest["sources"]["source.commons_assets.service.users"]["columns"]["telephone"] = {"meta": {}}
    with pytest.raises(PolicyError) as err:
        load_policy(manifest)
    assert "users.telephone" in str(err.value)
    assert "- name: telephone" in str(err.value) and "meta: {privacy:" in str(err.value)


def test_an_unconfirmed_suggestion_says_it_is_only_one_and_what_to_write_where():
    # what `commons-assets init` scaffolds: a suggestion, not a class; the block names the real yml
    manifest = _manifest()
    users = manifest["sources"]["source.commons_assets.service.users"]
    users["original_file_path"] = "models/staging/app/_app__sources.yml"
    users["columns"]["email"] = {
        "meta": {"privacy_suggested": "direct_identifier", "privacy_reason": "its name looks like an e-mail address"}
    }
    with pytest.raises(PolicyError) as err:
        load_policy(manifest)
    [line] = [line for line in str(err.value).splitlines() if "users.email" in line]
    assert "meta.privacy_suggested (direct_identifier) is only a suggestion" in line
    assert "models/staging/app/_app__sources.yml, table users, column email" in line
    assert "`privacy: direct_identifier`" in line


@pytest.mark.parametrize(
    "path, value, fragment",
    [
        (("licence",), "cc-by", "licence"),
        (("licence",), "LOV2", "licence"),
        (("kind",), "table", "kind"),
        (("dataset",), "Bad Slug!", "dataset"),
        (("quasi_identifiers",), ["semaine", "commune"], "'commune'"),
        (("k",), 1, "k"),
    ],
)
def test_bad_publish_spec_is_refused(path, value, fragment):
    manifest = _manifest()
    spec = manifest["nodes"]["model.commons_assets.cohorts"]["config"]["meta"]["publish"]
    spec[path[0]] = value
    with pytest.raises(PolicyError) as err:
        load_policy(manifest)
    assert fragment in str(err.value)


def test_published_column_without_a_class_is_refused():
    manifest = _manifest()
    manifest["nodes"]["model.commons_assets.cohorts"]["columns"]["commune"] = {"data_type": "text"}
    with pytest.raises(PolicyError, match=r"cohorts\.commune must carry meta\.privacy"):
        load_policy(manifest)


def test_a_published_class_from_the_source_vocabulary_is_refused():
    manifest = _manifest()
    manifest["nodes"]["model.commons_assets.cohorts"]["columns"]["semaine"]["meta"]["privacy"] = "direct_identifier"
    with pytest.raises(PolicyError, match=r"cohorts\.semaine"):
        load_policy(manifest)


def test_publish_outside_open_data_is_refused():
    manifest = _manifest()
    node = copy.deepcopy(manifest["nodes"]["model.commons_assets.cohorts"])
    node["original_file_path"] = "models/intermediate/cohorts.sql"
    node["name"] = node["unique_id"] = "other"
    manifest["nodes"]["other"] = node
    with pytest.raises(PolicyError, match="outside models/marts/open_data"):
        load_policy(manifest)


def test_schema_drift_lists_new_columns_of_known_tables_only():
    policy = load_policy(_manifest())
    actual = {"users": ["user_id", "email", "birth_date", "telephone"], "unknown_table": ["x"]}
    assert unclassified_columns(policy, actual) == ["users.telephone"]
    message = schema_drift_message(["users.telephone"], policy)
    assert "users.telephone" in message and "_service__sources.yml" in message


@pytest.mark.parametrize(
    "new_column",
    [
        "telephone",  # a name that says what it holds
        "notes_internes",  # an innocent name: whatever it holds, it is unclassified, so it blocks
        "Email",  # a known name in another case is another column
        "birth_date_2",
    ],
)
def test_any_new_source_column_is_drift_whatever_its_name(new_column):
    policy = load_policy(_manifest())
    actual = {"users": ["user_id", "email", "birth_date", new_column]}
    assert unclassified_columns(policy, actual) == [f"users.{new_column}"]


def test_a_source_without_new_columns_is_no_drift():
    # the near miss: the classified columns, in another order, or some of them gone, are not drift
    policy = load_policy(_manifest())
    assert unclassified_columns(policy, {"users": ["birth_date", "user_id", "email"]}) == []
    assert unclassified_columns(policy, {"users": ["user_id"]}) == []


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        # the near miss: every declared table there, every column classified (another table is not ours)
        ({"users": ["user_id", "email", "birth_date"], "other": ["x"]}, None),
        ({}, "source schema 'service' has no tables in the warehouse"),
        ({"other": ["x"]}, "source tables missing from schema 'service': users (declared in "
                           "models/staging/service/_service__sources.yml)"),
        ({"users": ["user_id", "email", "birth_date", "telephone"]}, "users.telephone"),
    ],
)  # fmt: skip
def test_the_source_schema_audit_blocks_an_empty_schema_a_missing_table_or_drift(actual, expected):
    from commons_assets.privacy.schema_audit import audit_columns

    finding = audit_columns(load_policy(_manifest()), actual)
    if expected is None:
        assert finding is None
    else:
        assert finding is not None and expected in finding.message
        assert finding.unclassified_columns == (["users.telephone"] if "telephone" in expected else [])


def _second_source(manifest: dict, meta: dict | None = None) -> dict:
    manifest["sources"]["source.commons_assets.crm.contacts"] = {
        "source_name": "crm",
        "name": "contacts",
        "schema": "crm",
        "original_file_path": "models/staging/crm/_crm__sources.yml",
        "source_meta": meta or {},
        "columns": {
            "contact_id": {"meta": {"privacy": "internal_id"}},
            "phone": {"meta": {"privacy": "direct_identifier"}},
        },
    }
    return manifest


def test_a_second_source_of_any_name_is_classified_audited_and_compared():
    policy = load_policy(_second_source(_manifest()))
    assert policy.sources["crm.contacts"] == {"contact_id": "internal_id", "phone": "direct_identifier"}
    assert policy.relation("crm.contacts") == ("crm", "contacts") and policy.relation("users") == ("service", "users")
    assert policy.source_schemas() == ["service", "crm"]
    assert ("crm.contacts", "phone") in policy.direct_identifier_columns()
    # drift in the second schema is found, and the hint names the yml that declares that source
    missing = unclassified_columns(policy, {"contacts": ["contact_id", "phone", "notes"]}, "crm")
    assert missing == ["crm.contacts.notes"]
    assert "models/staging/crm/_crm__sources.yml" in schema_drift_message(missing, policy)


def test_an_unclassified_column_of_a_second_source_blocks_and_names_its_yml():
    manifest = _second_source(_manifest())
    manifest["sources"]["source.commons_assets.crm.contacts"]["columns"]["notes"] = {"meta": {}}
    with pytest.raises(PolicyError) as err:
        load_policy(manifest)
    assert "crm.contacts.notes" in str(err.value) and "_crm__sources.yml" in str(err.value)


def test_only_a_source_marked_infrastructure_is_outside_the_policy():
    manifest = _second_source(_manifest(), meta={"commons": "infrastructure"})
    manifest["sources"]["source.commons_assets.crm.contacts"]["columns"]["notes"] = {"meta": {}}
    policy = load_policy(manifest)  # the unclassified column of an infrastructure source does not block
    assert "crm.contacts" not in policy.sources and policy.source_schemas() == ["service"]


def test_the_audit_reads_every_schema_under_the_policy(warehouse_info, db):
    from psycopg import sql

    from commons_assets.privacy.schema_audit import audit_source_schema

    manifest = _second_source(_manifest())
    manifest["sources"]["source.commons_assets.service.users"]["schema"] = "audit_service"
    db.execute("drop schema if exists audit_service cascade; drop schema if exists crm cascade")
    db.execute("create schema audit_service")
    db.execute("create table audit_service.users (user_id int, email text, birth_date date)")
    db.execute("create schema crm; create table crm.contacts (contact_id int, phone text)")
    try:
        policy = load_policy(manifest)
        assert audit_source_schema(warehouse_info, policy) is None  # the near miss: all classified
        db.execute(sql.SQL("alter table crm.contacts add column notes text"))
        finding = audit_source_schema(warehouse_info, policy)
        assert finding is not None and finding.unclassified_columns == ["crm.contacts.notes"]
        assert "models/staging/crm/_crm__sources.yml" in finding.message
    finally:
        db.execute("drop schema if exists audit_service cascade; drop schema if exists crm cascade")


def _with_person_key(person_key: dict, upstream: dict | None = None) -> dict:
    manifest = _manifest()
    cohorts = manifest["nodes"]["model.commons_assets.cohorts"]
    cohorts["config"]["meta"]["publish"]["person_key"] = person_key
    cohorts["depends_on"] = {"nodes": ["model.commons_assets.int_users__weekly"]}
    manifest["nodes"]["model.commons_assets.int_users__weekly"] = upstream or {
        "resource_type": "model",
        "name": "int_users__weekly",
        "unique_id": "model.commons_assets.int_users__weekly",
        "schema": "commons_intermediate",
        "original_file_path": "models/intermediate/int_users__weekly.sql",
        "depends_on": {"nodes": []},
    }
    return manifest


def test_a_person_key_resolves_to_its_upstream_relation():
    [model] = load_policy(_with_person_key({"model": "int_users__weekly", "column": "user_id"})).published
    assert model.person_relation == ("commons_intermediate", "int_users__weekly")
    assert model.spec.person_key.column == "user_id"
    assert model.group_columns == ["semaine"]  # an aggregate's cell: every column but its counts


@pytest.mark.parametrize(
    ("person_key", "fragment"),
    [
        ({"model": "int_nowhere", "column": "user_id"}, "person_key.model 'int_nowhere' is no model"),
        ({"model": "int_users__weekly"}, "meta.publish.person_key.column"),
        ({"model": "cohorts", "column": "user_id"}, "is a published model"),
        ({"model": "int_users__weekly", "column": "user_id", "columns": {"jour": "day"}}, "names column 'jour'"),
    ],
)
def test_a_person_key_that_does_not_resolve_is_refused(person_key, fragment):
    with pytest.raises(PolicyError) as err:
        load_policy(_with_person_key(person_key))
    assert fragment in str(err.value)


def test_a_person_key_model_must_be_upstream_of_the_published_one():
    manifest = _with_person_key({"model": "int_users__weekly", "column": "user_id"})
    manifest["nodes"]["model.commons_assets.cohorts"]["depends_on"] = {"nodes": []}
    with pytest.raises(PolicyError, match="is not upstream of cohorts"):
        load_policy(manifest)
