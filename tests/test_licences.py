"""The licence list that stands between a release and data.gouv.fr's 400 on an unknown licence."""

import pytest

from commons_assets.release.licences import (
    ALLOWED_FOR_RELEASE,
    LICENCES,
    LicenceError,
    check_licence,
    check_release_licence,
)


def test_the_two_release_licences_carry_data_gouv_titles_and_urls():
    lov2 = check_licence("lov2")
    assert lov2.title == "Licence Ouverte / Open Licence version 2.0"
    assert lov2.url == "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
    odbl = check_licence("odc-odbl")
    assert odbl.title == "Open Data Commons Open Database License (ODbL)"
    assert odbl.url == "https://opendatacommons.org/licenses/odbl/summary/"


@pytest.mark.parametrize(
    "licence_id",
    [
        "notspecified",
        "fr-lo",
        "odc-by",
        "odc-pddl",
        "cc-by",
        "cc-by-sa",
        "cc-zero",
        "other-at",
        "other-open",
        "other-pd",
    ],
)
def test_every_data_gouv_licence_is_known(licence_id):
    licence = check_licence(licence_id)
    assert licence.id == licence_id and licence.title


def test_every_licence_has_an_id_a_title_and_an_http_url_or_none():
    for licence_id, licence in LICENCES.items():
        assert licence.id == licence_id
        assert licence.title.strip() == licence.title and licence.title
        assert licence.url is None or licence.url.startswith(("http://", "https://"))


@pytest.mark.parametrize("bad", ["etalab-2.0", "LOV2", "", "cc-by-4.0", None])
def test_an_unknown_id_fails_with_one_line_listing_the_valid_ids(bad):
    with pytest.raises(LicenceError) as err:
        check_licence(bad)
    message = str(err.value)
    assert "\n" not in message
    assert repr(bad) in message
    for licence_id in LICENCES:
        assert licence_id in message


def test_a_release_may_use_only_lov2_and_odbl():
    assert ALLOWED_FOR_RELEASE == ("lov2", "odc-odbl")
    assert check_release_licence("lov2").id == "lov2"
    assert check_release_licence("odc-odbl").id == "odc-odbl"
    with pytest.raises(LicenceError, match="not allowed for a release: use lov2 or odc-odbl"):
        check_release_licence("cc-by")
    with pytest.raises(LicenceError, match="unknown licence"):
        check_release_licence("gpl")


def test_licence_error_is_a_value_error_so_the_cli_exits_1():
    assert issubclass(LicenceError, ValueError)
