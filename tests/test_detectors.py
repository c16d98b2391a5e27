"""Identifier detectors: every module's own examples, in Python and in PostgreSQL, plus cross-checks.

The same decision must come out of `matches()` (artefact scanning) and `sql_predicate()` (the gate), so
most tests run both and compare.
"""

from __future__ import annotations

import random
from types import ModuleType

import psycopg
import pytest

from commons_assets import warehouse
from commons_assets.privacy import detectors
from commons_assets.privacy.detectors import iban as iban_detector
from commons_assets.privacy.detectors import nir as nir_detector

DETECTORS = detectors.DETECTORS
BY_NAME = {module.NAME: module for module in DETECTORS}

# Values a published table legitimately carries: no detector may flag any of them.
INNOCENT_VALUES = (
    "2026-W47",
    "75",
    "2A",
    "depot_sauvage",
    "Voirie",
    "12",
    "0.42",
    "Île-de-France",
    "consultation_carte",
    "autre",
    "résolu",
    "2026-11",
    "2026",
    "Paris",
    "Dépôt Sauvage",
    "Éclairage public",
    "en_cours",
    "75056",
    "semaine 47",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "https://exemple.gouv.fr/carte?zoom=12&categorie=voirie",
    "",
)

# A FALSE value of one module that another module rightly flags: (value, detector that flags it).
EXPECTED_OVERLAPS = {
    ("2026-11-14T09:30:00.123Z", "birth_date"),  # coordinates' near-miss is an exact timestamp
    ("14.03.1987", "birth_date"),  # coordinates' near-miss is a dotted date
    ("2026.11.14", "birth_date"),  # ip_address' near-miss is a dotted date
    ("2026-11-14 09:30:00", "birth_date"),  # phone_fr's near-miss is a timestamp
    ("75011 Paris", "postal_address"),  # vehicle_plate's near-miss is a postcode and commune
}

REQUIRED = {
    "NAME": str,
    "DESCRIPTION": str,
    "LABELS": tuple,
    "TRUE_VALUES": tuple,
    "FALSE_VALUES": tuple,
}


@pytest.fixture(scope="module")
def conn():
    info = warehouse.resolve()
    connection = psycopg.connect(info.conninfo(), autocommit=True)
    detectors.install_functions(connection)
    yield connection
    connection.close()


def _sql_decisions(conn, module: ModuleType, values: list[str | None]) -> list[bool]:
    """Load `values` in a temp table and evaluate the module's predicate on each, in order."""
    conn.execute("drop table if exists pg_temp.detector_values")
    conn.execute("create temp table detector_values (position integer, value text)")
    with conn.cursor() as cursor, cursor.copy("copy detector_values (position, value) from stdin") as copy:
        for position, value in enumerate(values):
            copy.write_row((position, value))
    rows = conn.execute(
        f"select position, {module.sql_predicate('value')} from detector_values order by position"
    ).fetchall()
    assert [position for position, _ in rows] == list(range(len(values)))
    return [decision for _, decision in rows]


def _flagging(value: str) -> list[str]:
    return [module.NAME for module in DETECTORS if module.matches(value)]


# --- the contract every module honours -------------------------------------------------------------


def test_every_expected_detector_is_discovered():
    assert set(BY_NAME) >= {
        "email",
        "phone_fr",
        "nir",
        "iban",
        "ip_address",
        "vehicle_plate",
        "coordinates",
        "birth_date",
        "person_name",
        "postal_address",
        "url_personal_data",
    }
    assert len(BY_NAME) == len(DETECTORS), "two modules share a NAME"


@pytest.mark.parametrize("module", DETECTORS, ids=lambda m: m.NAME)
def test_module_contract(module: ModuleType):
    for attribute, kind in REQUIRED.items():
        assert isinstance(getattr(module, attribute, None), kind), f"{module.__name__}.{attribute}"
    assert callable(getattr(module, "sql_predicate", None)), f"{module.__name__}.sql_predicate"
    assert callable(getattr(module, "matches", None)), f"{module.__name__}.matches"
    assert module.__name__.rsplit(".", 1)[1] == module.NAME
    assert "__" not in module.NAME, "scan_sql aliases split on the first '__'"
    assert module.DESCRIPTION.strip() and "\n" not in module.DESCRIPTION
    assert module.LABELS and all(isinstance(label, str) and label for label in module.LABELS)
    assert len(module.TRUE_VALUES) >= 5, f"{module.NAME} needs at least 5 values it must flag"
    assert len(module.FALSE_VALUES) >= 5, f"{module.NAME} needs at least 5 values it must not flag"
    assert all(isinstance(v, str) for v in module.TRUE_VALUES + module.FALSE_VALUES)
    assert not set(module.TRUE_VALUES) & set(module.FALSE_VALUES)


# --- each module's own examples, in Python -----------------------------------------------------------

EXAMPLES = [
    pytest.param(module, value, expected, id=f"{module.NAME}-{'true' if expected else 'false'}-{i}")
    for module in DETECTORS
    for expected, values in ((True, module.TRUE_VALUES), (False, module.FALSE_VALUES))
    for i, value in enumerate(values)
]


@pytest.mark.parametrize(("module", "value", "expected"), EXAMPLES)
def test_matches(module: ModuleType, value: str, expected: bool):
    assert module.matches(value) is expected, f"{module.NAME}.matches({value!r}) should be {expected}"


# --- the same examples through PostgreSQL -------------------------------------------------------------


@pytest.mark.parametrize("module", DETECTORS, ids=lambda m: m.NAME)
def test_sql_predicate_agrees(conn, module: ModuleType):
    values = list(module.TRUE_VALUES) + list(module.FALSE_VALUES)
    expected = [True] * len(module.TRUE_VALUES) + [False] * len(module.FALSE_VALUES)
    decisions = _sql_decisions(conn, module, values)
    wrong = [(value, got) for value, want, got in zip(values, expected, decisions, strict=False) if got is not want]
    assert not wrong, f"{module.NAME}: SQL decided otherwise on {wrong}"


@pytest.mark.parametrize("module", DETECTORS, ids=lambda m: m.NAME)
def test_sql_predicate_is_null_safe_and_never_raises(conn, module: ModuleType):
    odd = [
        None,
        "",
        " ",
        "'; drop table x; --",
        "\\",
        "%s %(x)s",
        "\u00a0\u202f\n\t",
        "é" * 5000,
        "1" * 5000,
        "FR76" + "9" * 300,
        "2A" * 100,
        "::::::::",
        "😀 Jean 😀 Dupont",
    ]
    decisions = _sql_decisions(conn, module, odd)
    assert decisions[0] is False, "NULL must give false (or NULL), never an error"
    assert all(isinstance(d, bool) for d in decisions)
    assert decisions == [False] + [module.matches(v) for v in odd[1:]]


@pytest.mark.parametrize("module", DETECTORS, ids=lambda m: m.NAME)
def test_python_and_sql_agree_on_mixed_text(conn, module: ModuleType):
    """Every module's examples, mutated and glued together: both engines must decide the same."""
    rng = random.Random(f"detectors-{module.NAME}")
    pool = [v for m in DETECTORS for v in m.TRUE_VALUES + m.FALSE_VALUES] + list(INNOCENT_VALUES)
    alphabet = "0123456789 .-/:,;@()[]+AaÉéRrUu2AB_#?&=%\u00a0\n'"
    values = []
    for _ in range(400):
        chars = list(" ".join(rng.choice(pool) for _ in range(rng.randint(1, 3))))
        for _ in range(rng.randint(0, 2)):
            chars.insert(rng.randint(0, len(chars)), rng.choice(alphabet))
        values.append("".join(chars))
    decisions = _sql_decisions(conn, module, values)
    different = [(v, d) for v, d in zip(values, decisions, strict=False) if d is not module.matches(v)]
    assert not different, f"{module.NAME}: Python and SQL disagree on {different[:5]}"


# --- cross-checks ----------------------------------------------------------------------------------------


def test_innocent_values_flagged_by_no_detector(conn):
    for value in INNOCENT_VALUES:
        assert _flagging(value) == [], f"{value!r} flagged by {_flagging(value)}"
    for module in DETECTORS:
        decisions = _sql_decisions(conn, module, list(INNOCENT_VALUES))
        flagged = [value for value, decision in zip(INNOCENT_VALUES, decisions, strict=False) if decision]
        assert not flagged, f"{module.NAME} (SQL) flags {flagged}"


def test_false_values_of_any_module_are_not_flagged_elsewhere():
    unexpected = []
    for module in DETECTORS:
        for value in module.FALSE_VALUES:
            for name in _flagging(value):
                if (value, name) not in EXPECTED_OVERLAPS:
                    unexpected.append((module.NAME, value, name))
    assert not unexpected, f"(owner, value, flagged by): {unexpected}"
    still_overlapping = {(value, name) for value, name in EXPECTED_OVERLAPS if name in _flagging(value)}
    assert still_overlapping == EXPECTED_OVERLAPS, "update EXPECTED_OVERLAPS"


def _nir_with_key(first13: str) -> str:
    number = int(first13.replace("2A", "19").replace("2B", "18"))
    return f"{first13}{97 - number % 97:02d}"


def test_nir_key_is_checked(conn):
    valid = _nir_with_key("1850578006084")
    assert valid == "185057800608491"
    wrong_keys = [valid[:13] + f"{key:02d}" for key in (0, 1, 90, 92, 97, 98, 99)]
    formatted = "1 85 05 78 006 084 91"
    values = [valid, formatted, *wrong_keys, formatted[:-2] + "19"]
    expected = [True, True] + [False] * (len(wrong_keys) + 1)
    assert [nir_detector.matches(v) for v in values] == expected
    assert _sql_decisions(conn, nir_detector, values) == expected


def test_corsican_nir_is_flagged(conn):
    corsica_a = _nir_with_key("29002" + "2A" + "004123")
    corsica_b = _nir_with_key("29002" + "2B" + "004123")
    assert corsica_a == "290022A00412304" and corsica_b == "290022B00412331"
    spaced = "2 90 02 2A 004 123 04"
    # The key of 2A is not the key of 2B, nor of the literal digits "20".
    swapped = "290022A00412331"
    values = [corsica_a, corsica_b, spaced, spaced.lower(), swapped, _nir_with_key("2900220004123")[:13] + "04"]
    expected = [True, True, True, True, False, False]
    assert [nir_detector.matches(v) for v in values] == expected
    assert _sql_decisions(conn, nir_detector, values) == expected


def test_a_valid_iban_with_one_character_changed_is_not_flagged(conn):
    valid = "FR7630006000011234567890189"
    assert iban_detector.matches(valid)
    mutants = []
    for position in range(2, len(valid)):
        original = valid[position]
        replacement = "0" if original != "0" else "1"
        mutants.append(valid[:position] + replacement + valid[position + 1 :])
    assert not [m for m in mutants if iban_detector.matches(m)]
    assert _sql_decisions(conn, iban_detector, [valid, *mutants]) == [True] + [False] * len(mutants)


def test_iban_registry_is_the_same_in_python_and_sql(conn):
    codes = [*sorted(iban_detector.IBAN_LENGTHS), "XX", "fr", "", "F"]
    rows = conn.execute(
        "select code, commons_privacy.iban_length(code) from unnest(%s::text[]) as code", (codes,)
    ).fetchall()
    assert dict(rows) == {code: iban_detector.IBAN_LENGTHS.get(code) for code in codes}


def test_checksum_functions_return_false_on_garbage(conn):
    garbage = [None, "", "x", "2A", "FR", "FR76", "1" * 1000, "ÉÉÉ", "FR76 ---- ----", "2 90 02 2C 004 123 04"]
    for function in ("is_valid_nir", "is_valid_iban"):
        rows = conn.execute(
            f"select commons_privacy.{function}(value) from unnest(%s::text[]) as value", (garbage,)
        ).fetchall()
        assert [r[0] for r in rows] == [False] * len(garbage), function


def test_install_functions_is_idempotent(conn):
    detectors.install_functions(conn)
    detectors.install_functions(conn)
    (count,) = conn.execute("select count(*) from commons_privacy.first_names").fetchone()
    assert count == len(BY_NAME["person_name"].spellings())
    # A stale installation (another version's marker) is reinstalled, not trusted.
    conn.execute("comment on schema commons_privacy is 'stale'")
    conn.execute("truncate commons_privacy.first_names")
    detectors.install_functions(conn)
    (count,) = conn.execute("select count(*) from commons_privacy.first_names").fetchone()
    assert count == len(BY_NAME["person_name"].spellings())


# --- scanning ----------------------------------------------------------------------------------------------


SCAN_ROWS = [
    # (message, categorie, commune, n)
    ("RAS", "depot_sauvage", "Paris", 1),
    ("écrire à jean.dupont@exemple.fr", "Voirie", "Lyon", 2),
    ("rappeler le 06 12 34 56 78 svp", "depot_sauvage", "Paris", 3),
    ("Jean Dupont a signalé, rappeler au 0612345678", "autre", None, 4),
    ("NIR 1 85 05 78 006 084 91", "depot_sauvage", "Paris", 5),
    ("NIR 1 85 05 78 006 084 92", "résolu", "Paris", 6),
    (None, "2026-W47", "75011 Paris", 7),
    ("vu à 48.85661, 2.352222", "Voirie", "Paris", 8),
    ("RAS", "depot_sauvage", "Paris", 9),
    ("RAS", "jean.dupont@exemple.fr", "Paris", 10),
]


def test_scan_sql_counts_rows_per_detector_and_column(conn):
    conn.execute("drop table if exists pg_temp.published")
    conn.execute('create temp table published (message text, categorie varchar(80), "Commune FR" text, n int)')
    with conn.cursor() as cursor:
        cursor.executemany("insert into published values (%s, %s, %s, %s)", SCAN_ROWS)
    columns = ["message", "categorie", "Commune FR"]
    cursor = conn.execute(detectors.scan_sql("pg_temp.published", columns))
    names = [d.name for d in cursor.description]
    row = cursor.fetchone()
    assert cursor.fetchone() is None, "one row"
    assert names == list(detectors.scan_aliases(columns))
    assert all(isinstance(count, int) for count in row), "counts only, never a value"
    counts = dict(zip(names, row, strict=False))
    flagged = {alias: count for alias, count in counts.items() if count}
    assert flagged == {
        "email__message": 1,
        "phone_fr__message": 2,
        "person_name__message": 1,
        "nir__message": 1,
        "coordinates__message": 1,
        "email__categorie": 1,
        "postal_address__Commune FR": 1,
    }
    # The same counts as a per-column Python scan.
    for position, column in enumerate(columns):
        python_counts = detectors.scan_values(r[position] for r in SCAN_ROWS)
        for name, count in python_counts.items():
            assert counts[detectors.scan_alias(name, column)] == count, (name, column)


def test_scan_sql_reads_the_table_once_and_holds_no_placeholder(conn):
    sql = detectors.scan_sql("pg_temp.published", ["message", "categorie", "Commune FR"])
    assert "%" not in sql
    plan = "\n".join(r[0] for r in conn.execute("explain " + sql).fetchall())
    assert plan.count("Scan on published") == 1, plan
    assert detectors.scan_sql("pg_temp.published", []) == "select"
    assert conn.execute("select").fetchone() == ()


def test_scan_alias_fits_postgresql_identifiers():
    long_column = "a_very_long_column_name_that_goes_on_and_on_and_on_forever_xx"
    alias = detectors.scan_alias("url_personal_data", long_column)
    assert len(alias.encode()) <= 63 and alias.startswith("url_personal_data__")
    other = detectors.scan_alias("url_personal_data", long_column + "y")
    assert other != alias
    mapping = detectors.scan_aliases([long_column, "message"])
    assert mapping[alias] == ("url_personal_data", long_column)
    assert mapping["email__message"] == ("email", "message")


def test_scan_values_counts_per_detector():
    counts = detectors.scan_values(["jean.dupont@exemple.fr", "06 12 34 56 78", None, "RAS", "Jean Dupont"])
    assert set(counts) == set(BY_NAME)
    assert counts["email"] == 1 and counts["phone_fr"] == 1 and counts["person_name"] == 1
    assert sum(counts.values()) == 3


# --- the red team's leak variants (categories 1-10 of REDTEAM.md), decided here once ---------------------
# tests/test_redteam.py releases one of them end to end; every other variant is proven at this level, where the
# decision is made, by both engines.

REDTEAM_VARIANTS = [
    # 1. emails, plain and obfuscated
    ("1-email", "jeanne.dupond@exemple.fr", "email"),
    ("1-email", "Jean.Dupont+signalo@mairie-exemple.gouv.fr", "email"),
    ("1-email", "jean.dupont [at] exemple [dot] fr", "email"),
    ("1-email", "jean.dupont (at) exemple (dot) fr", "email"),
    ("1-email", "marie.curie arobase laposte point net", "email"),
    # 2. French phone numbers, every usual format, overseas
    ("2-phone", "06 12 34 56 78", "phone_fr"),
    ("2-phone", "0612345678", "phone_fr"),
    ("2-phone", "06.12.34.56.78", "phone_fr"),
    ("2-phone", "06-12-34-56-78", "phone_fr"),
    ("2-phone", "+33 6 12 34 56 78", "phone_fr"),
    ("2-phone", "+33 (0)6 12 34 56 78", "phone_fr"),
    ("2-phone", "0033612345678", "phone_fr"),
    ("2-phone", "01 42 76 40 40", "phone_fr"),
    ("2-phone", "+262 692 12 34 56", "phone_fr"),
    ("2-phone", "0692 12 34 56", "phone_fr"),
    ("2-phone", "+590 690 12 34 56", "phone_fr"),
    ("2-phone", "+687 75 12 34", "phone_fr"),
    # 3. NIR with its key, with and without spaces, Corsica
    ("3-nir", "185057800608491", "nir"),
    ("3-nir", "1 85 05 78 006 084 91", "nir"),
    ("3-nir", "2 94 03 75 120 005 91", "nir"),
    ("3-nir", "290022A00412304", "nir"),
    ("3-nir", "2 90 02 2B 004 123 31", "nir"),
    # 4. IBAN, with and without spaces
    ("4-iban", "FR76 3000 6000 0112 3456 7890 189", "iban"),
    ("4-iban", "FR7630006000011234567890189", "iban"),
    ("4-iban", "DE89370400440532013000", "iban"),
    ("4-iban", "GB29 NWBK 6016 1331 9268 19", "iban"),
    # 5. IP addresses, v4 and v6, alone, in a URL, in a user agent
    ("5-ip", "192.168.12.34", "ip_address"),
    ("5-ip", "2001:db8:85a3::8a2e:370:7334", "ip_address"),
    ("5-ip", "http://82.64.12.7/signalement", "ip_address"),
    ("5-ip", "http://[2001:db8::1]:8080/carte", "ip_address"),
    ("5-ip", "Mozilla/5.0 (X11; Linux x86_64) 10.20.30.40", "ip_address"),
    ("5-ip", "client=fe80::1ff:fe23:4567:890a ua=Firefox/120.0", "ip_address"),
    # 6. vehicle plates, current (SIV) and former (FNI) formats
    ("6-plate", "AB-123-CD", "vehicle_plate"),
    ("6-plate", "AB 123 CD", "vehicle_plate"),
    ("6-plate", "1234 AB 69", "vehicle_plate"),
    ("6-plate", "123 ABC 75", "vehicle_plate"),
    ("6-plate", "456 AB 2A", "vehicle_plate"),
    # 7. coordinates with 3 or more decimals
    ("7-coordinates", "48.85661, 2.35222", "coordinates"),
    ("7-coordinates", "lat 43.29648", "coordinates"),
    ("7-coordinates", "48.857;2.352", "coordinates"),
    ("7-coordinates", "-21.115141, 55.536384", "coordinates"),
    # 8. names and addresses where a category should be
    ("8-name", "Jean Dupont", "person_name"),
    ("8-name", "Mme Martin", "person_name"),
    ("8-name", "DUPONT Marie", "person_name"),
    ("8-address", "12 rue de la République", "postal_address"),
    ("8-address", "3 bis avenue Victor Hugo 75016 Paris", "postal_address"),
    ("8-address", "lieu-dit Les Granges, 12 chemin des Vignes", "postal_address"),
    # 9. dates of birth, exact timestamps
    ("9-date", "14/03/1987", "birth_date"),
    ("9-date", "1987-03-14", "birth_date"),
    ("9-date", "né le 14 mars 1987", "birth_date"),
    ("9-date", "2026-11-17T09:31:12", "birth_date"),
    ("9-date", "2026-11-17 09:31:12+01", "birth_date"),
    # 10. URLs carrying personal data
    ("10-url", "https://signalo.example.gouv.fr/suivi?email=paul", "url_personal_data"),
    ("10-url", "https://signalo.example.gouv.fr/r?token=a8f5f167f44f4964", "url_personal_data"),
    ("10-url", "/signalement?nom=dupont&tel=0612345678", "url_personal_data"),
    ("10-url", "https://exemple.gouv.fr/compte?user_id=48213", "url_personal_data"),
]
# Near misses of the same categories: no detector may flag them (a 15-digit number with a wrong key is no NIR).
REDTEAM_NEAR_MISSES = [
    ("3-nir", "185057800608492"),
    ("3-nir", "1 85 05 78 006 084 19"),
    ("4-iban", "FR76 3000 6000 0112 3456 7890 188"),
    ("7-coordinates", "48.86, 2.35"),
    ("2-phone", "75011"),
    ("10-url", "https://exemple.gouv.fr/carte?zoom=12&categorie=voirie"),
]


@pytest.mark.parametrize(
    ("category", "value", "name"),
    REDTEAM_VARIANTS,
    ids=[f"{category}-{name}-{i}" for i, (category, _, name) in enumerate(REDTEAM_VARIANTS)],
)
def test_red_team_variant_is_flagged_by_its_detector_in_python_and_sql(conn, category, value, name):
    module = BY_NAME[name]
    assert module.matches(value), f"{category}: {name} misses {value!r}"
    assert _sql_decisions(conn, module, [value]) == [True], f"{category}: {name} (SQL) misses {value!r}"


@pytest.mark.parametrize(
    ("category", "value"), REDTEAM_NEAR_MISSES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(REDTEAM_NEAR_MISSES)]
)
def test_red_team_near_miss_is_flagged_by_no_detector_in_python_or_sql(conn, category, value):
    assert _flagging(value) == [], f"{category}: {value!r} flagged by {_flagging(value)}"
    for module in DETECTORS:
        assert _sql_decisions(conn, module, [value]) == [False], f"{category}: {module.NAME} (SQL) flags {value!r}"
