"""The licences data.gouv.fr knows, by the ids its API uses, and the two our release policy may use.

The ids, titles and addresses are those of data.gouv.fr's `GET /api/1/datasets/licenses/`: a dataset whose
`license` is not one of these ids is refused by the portal (400), so checking it here lets a wrong licence fail
before anything is uploaded. The list changes rarely; when data.gouv.fr adds a licence, add it here.
"""

from __future__ import annotations

from dataclasses import dataclass

from commons_assets.errors import CommonsError


class LicenceError(CommonsError, ValueError):
    """A licence id is unknown to data.gouv.fr, or not allowed by our policy; the message lists the valid ids."""


@dataclass(frozen=True)
class Licence:
    id: str
    title: str
    # None for the generic licences ("Other (Open)"…), which data.gouv.fr lists without an address.
    url: str | None


LICENCES: dict[str, Licence] = {
    licence.id: licence
    for licence in (
        Licence(
            "lov2",
            "Licence Ouverte / Open Licence version 2.0",
            "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
        ),
        Licence(
            "odc-odbl",
            "Open Data Commons Open Database License (ODbL)",
            "https://opendatacommons.org/licenses/odbl/summary/",
        ),
        Licence(
            "fr-lo",
            "Licence Ouverte / Open Licence",
            "https://www.etalab.gouv.fr/wp-content/uploads/2014/05/Licence_Ouverte.pdf",
        ),
        Licence("odc-by", "Open Data Commons Attribution License", "http://opendatacommons.org/licenses/by/summary/"),
        Licence(
            "odc-pddl",
            "Open Data Commons Public Domain Dedication and Licence (PDDL)",
            "http://opendatacommons.org/licenses/pddl/summary/",
        ),
        Licence("cc-by", "Creative Commons Attribution", "http://www.opendefinition.org/licenses/cc-by"),
        Licence(
            "cc-by-sa", "Creative Commons Attribution Share-Alike", "http://www.opendefinition.org/licenses/cc-by-sa"
        ),
        Licence("cc-zero", "Creative Commons CCZero", "http://www.opendefinition.org/licenses/cc-zero"),
        Licence("other-at", "Other (Attribution)", None),
        Licence("other-open", "Other (Open)", None),
        Licence("other-pd", "Other (Public Domain)", None),
        Licence("notspecified", "License Not Specified", None),
    )
}

# The doctrine: Licence Ouverte 2.0 for what the service produces, the share-alike ODbL for what its users
# produce (their reports). Any other licence, however valid on data.gouv.fr, is a policy error.
ALLOWED_FOR_RELEASE = ("lov2", "odc-odbl")


def check_licence(licence_id: str) -> Licence:
    """The data.gouv.fr licence with this id; LicenceError naming the valid ids otherwise."""
    licence = LICENCES.get(licence_id) if isinstance(licence_id, str) else None
    if licence is None:
        raise LicenceError(f"unknown licence {licence_id!r}: data.gouv.fr knows {', '.join(sorted(LICENCES))}")
    return licence


def check_release_licence(licence_id: str) -> Licence:
    """The licence if our release policy may use it (lov2 or odc-odbl); LicenceError otherwise."""
    licence = check_licence(licence_id)
    if licence.id not in ALLOWED_FOR_RELEASE:
        raise LicenceError(
            f"licence {licence_id!r} is valid on data.gouv.fr but not allowed for a release: "
            f"use {' or '.join(ALLOWED_FOR_RELEASE)}"
        )
    return licence
