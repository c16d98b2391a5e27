"""The public statistics page: structure, escaping, nothing loaded from outside, and the charts as Chromium draws
them (Debian's chromium through Playwright, every non-file request blocked)."""

from __future__ import annotations

import datetime as dt
import html
import html.parser
import math
import re
from pathlib import Path
from typing import ClassVar

import pytest

from commons_assets.usage.exemption import ExemptionCondition
from commons_assets.usage.stats_page import render_stats_page
from tests.chromium import headless_chromium

WEEK = "2026-W47"
GENERATED_AT = dt.datetime(2026, 11, 23, 2, 5, tzinfo=dt.UTC)
DATASET_URL = "https://www.data.gouv.fr/fr/datasets/usage-fonctionnalites-signalo/"
# The demo's feature catalogue, with a typical week's events.
FEATURES = [
    ("consultation_carte", "Consultation de la carte", 3100),
    ("recherche_adresse", "Recherche d'adresse", 1900),
    ("suivi_signalement", "Suivi d'un signalement", 1250),
    ("creation_signalement", "Création d'un signalement", 880),
    ("consultation_aide", "Consultation de l'aide", 560),
    ("connexion", "Connexion", 390),
    ("telechargement_donnees", "Téléchargement des données", 280),
    ("inscription", "Inscription", 14),
    ("autre", "Autre", 45),
]
EXEMPTION = [
    ExemptionCondition("ip_truncated", "Adresses IP tronquées d'au moins 2 octets", True,
                       "0 adresse non tronquée sur 48 210 événements avec adresse IP (0,0 %)"),
    ExemptionCondition("visitor_id_lifetime", "Identifiants de visiteur utilisés au plus 13 mois", True,
                       "durée d'usage la plus longue : 177 jours (5,8 mois)"),
    ExemptionCondition("raw_event_retention", "Événements bruts conservés au plus 25 mois", False,
                       "plus ancien événement conservé : 812 jours (26,7 mois)"),
]


def realistic_rows(weeks: int = 12, last: str = WEEK) -> list[dict]:
    """Rows of feature_usage_weekly for `weeks` weeks up to `last`: a slow rise, a dip in week 44 (the
    All Saints holidays), « inscription » under 11 in some weeks and, there, a second cell hidden as the dbt
    model's secondary suppression does."""
    year, number = (int(p) for p in last.split("-W"))
    last_monday = dt.date.fromisocalendar(year, number, 1)
    rows = []
    for back in range(weeks - 1, -1, -1):
        monday = last_monday - dt.timedelta(weeks=back)
        iso_year, iso_week, _ = monday.isocalendar()
        week = f"{iso_year}-W{iso_week:02d}"
        factor = (1 + 0.03 * (weeks - back)) * (0.72 if iso_week == 44 else 1.0)
        week_rows = []
        for index, (code, label, base) in enumerate(FEATURES):
            events = round(base * factor * (1 + 0.08 * math.sin(back * 1.7 + index)))
            if code == "inscription":
                events = 6 + (back * 7) % 9  # 6..14: under 11 in some weeks
            visits = round(events * 0.55)
            rows.append(dict(week=week, feature=code, feature_label=label,
                             events=events, visits=visits, visitors=round(visits * 0.85)))
            week_rows.append(rows[-1])
        total_events = sum(r["events"] for r in week_rows)
        total_visits = round(sum(r["visits"] for r in week_rows) * 0.62)
        for row in week_rows:
            for column in ("events", "visits", "visitors"):
                if row[column] < 11:
                    row[column] = None
        if any(r["events"] is None for r in week_rows):
            next(r for r in week_rows if r["feature"] == "autre")["events"] = None
        rows.append(dict(week=week, feature="total", feature_label="Toutes fonctionnalités",
                         events=total_events, visits=total_visits,
                         visitors=round(total_visits * 0.8)))
    return rows


def _render(rows=None, **overrides) -> str:
    params = dict(service_name="Signalo", week=WEEK, generated_at=GENERATED_AT, dataset_url=DATASET_URL,
                  exemption=EXEMPTION)
    params.update(overrides)
    return render_stats_page(realistic_rows() if rows is None else rows, **params)


class _Outline(html.parser.HTMLParser):
    """Checks that tags nest and close properly (HTML5 void elements aside) and collects what the tests look at."""

    VOID: ClassVar[set[str]] = {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr",
    }
    # SVG elements written self-closing (<line/>) are reported by handle_startendtag.

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.ids: list[str] = []
        self.text: dict[str, list[str]] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if "id" in attributes:
            self.ids.append(attributes["id"])
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if "id" in attributes:
            self.ids.append(attributes["id"])

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else '-'}>")
            return
        self.stack.pop()

    def handle_data(self, data):
        if self.stack:
            self.text.setdefault(self.stack[-1], []).append(data)


def _outline(page: str) -> _Outline:
    outline = _Outline()
    outline.feed(page)
    outline.close()
    return outline


def test_the_page_is_well_formed_french_html5_with_its_sections():
    page = _render()
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"fr\">")
    outline = _outline(page)
    assert outline.errors == [] and outline.stack == []
    assert len(outline.ids) == len(set(outline.ids)), "duplicate ids"
    assert outline.text["title"][0] == "Statistiques d'utilisation — Signalo"  # then the SVG titles
    assert outline.text["h1"] == ["Statistiques d'utilisation — Signalo"]
    assert outline.text["h2"] == [
        "La semaine en chiffres", "Évolution par fonctionnalité", f"La semaine {WEEK} par fonctionnalité",
        "Méthode de mesure", "Données et licence",
    ]
    tags = [tag for tag, _ in outline.tags]
    assert tags.count("svg") >= 2 and tags.count("desc") == 2
    for tag, attributes in outline.tags:
        if tag == "svg" and attributes.get("role") == "img":
            assert attributes.get("aria-labelledby")
        if tag == "th":
            assert attributes.get("scope") in ("row", "col")
    assert "du lundi 16 au dimanche 22 novembre 2026" in page
    assert "Licence Ouverte 2.0" in page
    assert "23 novembre 2026 à 03:05 (heure de Paris)" in page


def test_the_latest_week_table_shows_suppressed_counts_with_their_notes():
    page = _render()
    table = re.search(r'<table id="tableau-semaine">.*?</table>', page, re.S).group(0)
    inscription = re.search(r"<tr><th scope=\"row\">Inscription</th>(.*?)</tr>", table).group(1)
    # W47: inscription has 6 events (< 11), so its events are hidden, and « autre »'s by secondary suppression.
    assert inscription.count("masqué") == 1 and inscription.count("&lt;\u202f11") == 2
    autre = re.search(r"<tr><th scope=\"row\">Autre</th>(.*?)</tr>", table).group(1)
    assert "masqué" in autre
    assert 'id="note-secret"' in page and "secret statistique" in page
    assert 'id="note-masque"' in page and "secret secondaire" in page
    assert "<tfoot><tr><th scope=\"row\">Toutes fonctionnalités</th>" in table


def test_every_label_is_escaped():
    rows = realistic_rows(weeks=3)
    for row in rows:
        if row["feature"] == "connexion":
            row["feature_label"] = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
    page = _render(rows, service_name="Signalo <b>", exemption=[
        ExemptionCondition("c", "<i>condition</i>", True, "1 < 2 & 3 > 2"),
    ])
    assert "<script" not in page and "<img" not in page and "<b>" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;" in page
    assert "1 &lt; 2 &amp; 3 &gt; 2" in page
    assert _outline(page).errors == []


def test_nothing_is_loaded_from_outside_the_page():
    page = _render()
    outline = _outline(page)
    for tag, attributes in outline.tags:
        for name in ("src", "srcset", "action", "xlink:href", "poster", "data"):
            assert name not in attributes, f"<{tag} {name}=…>"
        if "href" in attributes and tag != "a":
            pytest.fail(f"<{tag} href={attributes['href']!r}>: only links may point elsewhere")
    assert "<script" not in page and "@import" not in page and "url(" not in page
    external = {a.get("href") for t, a in outline.tags if t == "a" and a.get("href", "").startswith("http")}
    assert DATASET_URL in external
    # The only other addresses in the page are those of links a reader may follow (licence, CNIL).
    without_links = re.sub(r'<a href="[^"]*"', "<a", page)
    assert "http://" not in without_links and "https://" not in without_links
    assert "default-src 'none'" in page  # and the browser is told so


def test_without_a_dataset_link_or_exemption_check_the_page_says_so():
    page = _render(dataset_url=None, exemption=None)
    assert DATASET_URL not in page
    assert "accompagnent chaque publication" in page
    assert "n'ont pas été vérifiées" in page


def test_a_failed_condition_is_stated_plainly():
    page = _render()
    assert "1 condition sur 3 n'est pas remplie" in page
    assert page.count("✗ non") == 1 and page.count("✓ oui") == 2


def test_an_unmeasured_condition_is_never_shown_as_met():
    exemption = [EXEMPTION[0], ExemptionCondition(
        "visitor_id_lifetime", "Identifiants de visiteur utilisés au plus 13 mois", None,
        "non mesuré : aucune colonne d'identifiant de visiteur déclarée (meta.usage_event: visitor)")]
    page = _render(exemption=exemption)
    assert "1 condition sur 2 n'a pas pu être mesurée" in page
    assert page.count("✓ oui") == 1 and page.count("✗ non") == 0
    assert '<td class="status ko">non mesuré</td>' in page
    assert "conditions vérifiées sont remplies" not in page


def test_a_dataset_link_must_be_a_web_address():
    with pytest.raises(ValueError, match="http"):
        _render(dataset_url="javascript:alert(1)")
    with pytest.raises(ValueError, match="http"):
        _render(datasets=[("Signalements", "javascript:alert(1)")])
    with pytest.raises(ValueError, match="e-mail"):
        _render(contact="javascript:alert(1)")


DATASETS = [("Signalements de l'espace public", "https://www.data.gouv.fr/fr/datasets/signalements/"),
            ("Fréquentation <des> fonctionnalités", DATASET_URL)]


def test_the_page_links_to_every_dataset_of_the_release_and_to_the_contact():
    page = _render(datasets=DATASETS, contact="donnees@signalo.exemple.fr")
    section = page.split('id="licence"')[1]
    for title, url in DATASETS:
        assert f'<a href="{url}">{html.escape(title)}</a>' in section
    assert '<a href="mailto:donnees@signalo.exemple.fr">' in section
    forge = _render(contact="https://forge.exemple.fr/signalo/issues")
    assert '<a href="https://forge.exemple.fr/signalo/issues">Contacter' in forge
    bare = _render()
    assert 'id="jeux-de-donnees"' not in bare and 'id="contact"' not in bare


@pytest.mark.parametrize(
    "rows",
    [[], realistic_rows(weeks=1), [r for r in realistic_rows(weeks=3) if r["feature"] != "total"]],
    ids=["no-data", "one-week", "no-total-row"],
)
def test_sparse_data_still_gives_a_well_formed_page(rows):
    outline = _outline(_render(rows))
    assert outline.errors == [] and outline.stack == []


def test_weeks_after_the_release_week_are_left_out():
    page = _render(realistic_rows(weeks=12, last="2026-W48"))
    assert "2026-W48" not in page


# --- in a browser ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    with headless_chromium() as browser:
        yield browser


def open_page(browser, path: Path, width: int = 1280):
    """The page from disk with every request but file:// refused; returns (page, refused urls, console errors)."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    refused, errors = [], []

    def route(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(path.as_uri(), wait_until="load")
    return page, refused, errors


@pytest.mark.ui  # needs Debian's chromium, as the Dagster UI's tests do
def test_the_charts_render_with_data_in_chromium(browser, tmp_path):
    rows = realistic_rows()
    path = tmp_path / "stats.html"
    path.write_text(_render(rows), encoding="utf-8")
    page, refused, errors = open_page(browser, path)

    assert page.title() == "Statistiques d'utilisation — Signalo"
    features = {r["feature"] for r in rows} - {"total"}
    series = page.locator("#graphique-evolution g.series")
    assert series.count() == len(features)
    for index in range(series.count()):
        box = series.nth(index).locator("path").bounding_box()
        assert box and box["width"] > 100 and box["height"] > 0, series.nth(index).get_attribute("data-feature")
    assert page.locator("#graphique-evolution circle").count() == sum(
        1 for r in rows if r["feature"] != "total" and r["events"] is not None
    )
    chart = page.locator("#graphique-evolution").bounding_box()
    assert chart["width"] > 800 and chart["height"] > 250

    latest = [r for r in rows if r["week"] == WEEK and r["feature"] != "total"]
    bars = page.locator("#graphique-semaine rect")
    assert bars.count() == sum(1 for r in latest if r["events"] is not None)
    widths = [bars.nth(i).bounding_box()["width"] for i in range(bars.count())]
    assert all(w > 0 for w in widths) and widths == sorted(widths, reverse=True)
    assert page.locator("#graphique-semaine text.masked").count() == 2

    assert page.locator("script").count() == 0
    assert page.locator("#tableau-semaine tbody tr").count() == len(latest)
    assert page.locator("ul.legend li").count() == len(features)
    page.screenshot(path=str(tmp_path / "stats.png"), full_page=True)
    assert refused == [] and errors == []
    page.close()


@pytest.mark.ui
def test_the_page_reads_on_a_phone(browser, tmp_path):
    path = tmp_path / "stats.html"
    path.write_text(_render(), encoding="utf-8")
    page, refused, errors = open_page(browser, path, width=390)
    # Nothing wider than the screen: wide charts and tables scroll inside their own boxes...
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for scroller in page.locator(".chart-scroll").all():
        assert scroller.bounding_box()["width"] <= 390
    # ...so that the charts' text stays readable instead of shrinking with the screen.
    for chart in ("#graphique-evolution", "#graphique-semaine"):
        heights = [box["height"] for box in (t.bounding_box() for t in page.locator(f"{chart} text").all()) if box]
        assert heights and min(heights) >= 10, (chart, min(heights))
    page.screenshot(path=str(tmp_path / "stats-phone.png"), full_page=True)
    assert refused == [] and errors == []
    page.close()
