"""The public statistics page published with every release: one static, self-contained French HTML file.

The page a beta.gouv.fr service puts at /stats: key figures of the week, a line chart of the weekly events per
feature, a bar chart and a table of the latest week, how it is measured (and whether the CNIL consent
exemption's conditions hold), the licence and a link to the dataset.

Self-contained on purpose: it is opened from a release folder or a static host, years later maybe, so it loads
nothing (no CDN, no web font, no script; charts are SVG drawn here) and its Content-Security-Policy says so to
the browser. Every label is HTML-escaped: feature labels come from a catalogue people edit.

Suppressed counts (None) are shown in two ways, because they do not mean the same thing. Visits and visitors
are only ever hidden when under 11, so they read « < 11 ». An event count can also be hidden *although* it is
11 or more (secondary suppression: it would otherwise give a small count away by difference with the weekly
total), so « < 11 » could be false there: it reads « masqué ».
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from commons_assets.french import NNBSP as _NNBSP
from commons_assets.french import integer as _int_fr
from commons_assets.week import TIMEZONE as SERVICE_TIMEZONE
from commons_assets.week import Week

K_THRESHOLD = 11
TOTAL_CODE = "total"
OTHER_CODE = "autre"
TIMEZONE = ZoneInfo(SERVICE_TIMEZONE)
LICENCE_URL = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
CNIL_URL = (
    "https://www.cnil.fr/fr/cookies-et-autres-traceurs/regles/cookies-solutions-pour-les-outils-de-mesure-daudience"
)
# Dark enough to keep a 3:1 contrast with white (WCAG for graphics) and apart from one another; « autre » is grey.
PALETTE = ("#000091", "#ce0500", "#18753c", "#b34000", "#6a6af4", "#a558a0", "#00786c", "#716043")
OTHER_COLOUR = "#666666"
# Past 8 features colours repeat, with a dash pattern to keep the lines apart.
DASHES = ("", "8 4", "2 3")
_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _day_fr(day: dt.date, weekday: bool = False, year: bool = True) -> str:
    names = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
    text = f"{'1er' if day.day == 1 else day.day} {_MONTHS[day.month - 1]}" + (f" {day.year}" if year else "")
    return f"{names[day.weekday()]} {text}" if weekday else text


def _week_span_fr(week: str) -> str:
    parsed = Week.parse(week)
    monday, sunday = parsed.monday, parsed.sunday
    same_year = monday.year == sunday.year
    if same_year and monday.month == sunday.month:
        return f"du lundi {'1er' if monday.day == 1 else monday.day} au {_day_fr(sunday, weekday=True)}"
    return f"du {_day_fr(monday, weekday=True, year=not same_year)} au {_day_fr(sunday, weekday=True)}"


def _short_week(week: str) -> str:
    return f"S{Week.parse(week).number:02d}"


@dataclass
class _Feature:
    code: str
    label: str
    colour: str = ""
    dash: str = ""


class _Data:
    """Rows reshaped: weeks in order, features in display order, values by (week, feature)."""

    def __init__(self, rows: Iterable[Mapping[str, Any]], week: str, total_code: str = TOTAL_CODE) -> None:
        self.total_code = total_code
        self.values: dict[tuple[str, str], Mapping[str, Any]] = {}
        labels: dict[str, str] = {}
        weeks = set()
        for row in rows:
            semaine, code = str(row["week"]), str(row["feature"])
            if semaine > week:
                continue  # a later week is not part of this release's page
            weeks.add(semaine)
            self.values[(semaine, code)] = row
            if code != total_code and (code not in labels or semaine >= week):
                labels[code] = str(row.get("feature_label") or code)
        self.week = week
        self.weeks = sorted(weeks)
        self.previous_week = next((w for w in reversed(self.weeks) if w < week), None)

        def order(code: str) -> tuple:
            latest = self.get(week, code, "events")
            overall = sum(self.get(w, code, "events") or 0 for w in self.weeks)
            # The catch-all last, then the most used first, suppressed values after known ones.
            return (code == OTHER_CODE, -(latest if latest is not None else -1), -overall, labels[code])

        self.features = [_Feature(code, labels[code]) for code in sorted(labels, key=order)]
        coloured = 0
        for feature in self.features:
            if feature.code == OTHER_CODE:
                feature.colour, feature.dash = OTHER_COLOUR, "6 3"
            else:
                feature.colour = PALETTE[coloured % len(PALETTE)]
                feature.dash = DASHES[(coloured // len(PALETTE)) % len(DASHES)]
                coloured += 1

    def get(self, week: str, code: str, column: str) -> int | None:
        row = self.values.get((week, code))
        if row is None:
            return None
        value = row.get(column)
        # Suppressed counts come as None, or as NaN / pandas' NA when rows come from a DataFrame.
        if value is None or (isinstance(value, float) and math.isnan(value)) or type(value).__name__ == "NAType":
            return None
        return int(value)

    def has(self, week: str, code: str) -> bool:
        return (week, code) in self.values


def _cell(value: int | None, column: str, present: bool = True) -> str:
    if not present:
        return '<td class="num">—</td>'
    if value is not None:
        return f'<td class="num">{_int_fr(value)}</td>'
    if column == "events":
        return '<td class="num masked">masqué<sup><a href="#note-masque" aria-label="note 2">2</a></sup></td>'
    return (f'<td class="num masked">&lt;{_NNBSP}{K_THRESHOLD}'
            '<sup><a href="#note-secret" aria-label="note 1">1</a></sup></td>')


def _nice_step(maximum: float, target: int = 5) -> int:
    raw = max(maximum, 1) / target
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        step = multiple * magnitude
        if step >= raw:
            return max(1, round(step))
    return int(10 * magnitude)  # pragma: no cover


# --- charts ---------------------------------------------------------------------------------------------------

_LINE_W, _LINE_H = 960, 380
_LINE_MARGIN = {"left": 72, "right": 24, "top": 16, "bottom": 52}


def _line_chart(data: _Data) -> str:
    left, right, top, bottom = (_LINE_MARGIN[k] for k in ("left", "right", "top", "bottom"))
    plot_w, plot_h = _LINE_W - left - right, _LINE_H - top - bottom
    weeks = data.weeks
    maximum = max(
        (data.get(w, f.code, "events") or 0 for w in weeks for f in data.features), default=0
    )
    step = _nice_step(maximum)
    top_value = max(step, math.ceil(maximum / step) * step)

    def x(index: int) -> float:
        return left + (plot_w / 2 if len(weeks) == 1 else plot_w * index / (len(weeks) - 1))

    def y(value: float) -> float:
        return top + plot_h - plot_h * value / top_value

    first, last = (weeks[0], weeks[-1]) if weeks else (data.week, data.week)
    latest = [(f, data.get(data.week, f.code, "events")) for f in data.features]
    known = [(f, v) for f, v in latest if v is not None]
    leader = max(known, key=lambda fv: fv[1], default=None)
    desc = (
        f"Nombre d'événements par semaine pour {len(data.features)} fonctionnalités, de la semaine {first} "
        f"à la semaine {last}."
        + (f" La plus utilisée la dernière semaine : {leader[0].label} ({_int_fr(leader[1])} événements)."
           if leader else "")
        + " Les valeurs sont reprises dans le tableau « Données du graphique »."
    )
    parts = [
        f'<svg class="chart" id="graphique-evolution" viewBox="0 0 {_LINE_W} {_LINE_H}" role="img" '
        'aria-labelledby="evolution-titre evolution-desc">',
        '<title id="evolution-titre">Événements par semaine et par fonctionnalité</title>',
        f'<desc id="evolution-desc">{_e(desc)}</desc>',
        '<g class="axis y-axis">',
    ]
    for tick in range(0, top_value + 1, step):
        ty = y(tick)
        parts.append(f'<line x1="{left}" x2="{_LINE_W - right}" y1="{ty:.1f}" y2="{ty:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 10}" y="{ty + 5:.1f}" text-anchor="end">{_int_fr(tick)}</text>')
    parts.append("</g>")
    parts.append('<g class="axis x-axis">')
    every = max(1, math.ceil(len(weeks) / 13))
    for index, week in enumerate(weeks):
        if index % every and index != len(weeks) - 1:
            continue
        tx = x(index)
        parts.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{top + plot_h}" y2="{top + plot_h + 6}"/>')
        parts.append(f'<text x="{tx:.1f}" y="{top + plot_h + 24}" text-anchor="middle">{_e(_short_week(week))}</text>')
        if index == 0 or week[:4] != weeks[index - every][:4]:
            parts.append(f'<text x="{tx:.1f}" y="{top + plot_h + 44}" text-anchor="middle" class="year">'
                         f'{_e(week[:4])}</text>')
    parts.append("</g>")
    for feature in data.features:
        points = [(i, data.get(w, feature.code, "events")) for i, w in enumerate(weeks)]
        path, pen_down = [], False
        for index, value in points:
            if value is None:
                pen_down = False  # a suppressed week is a gap, not a zero
                continue
            path.append(f"{'L' if pen_down else 'M'}{x(index):.1f},{y(value):.1f}")
            pen_down = True
        dash = f' stroke-dasharray="{feature.dash}"' if feature.dash else ""
        parts.append(f'<g class="series" data-feature="{_e(feature.code)}">')
        parts.append(f"<title>{_e(feature.label)}</title>")
        parts.append(
            f'<path d="{" ".join(path)}" fill="none" stroke="{feature.colour}" stroke-width="2.5" '
            f'stroke-linejoin="round" stroke-linecap="round"{dash}/>'
        )
        for index, value in points:
            if value is None:
                continue
            parts.append(
                f'<circle cx="{x(index):.1f}" cy="{y(value):.1f}" r="3.5" fill="{feature.colour}">'
                f"<title>{_e(feature.label)}, semaine {_e(weeks[index])} : {_int_fr(value)} événements</title>"
                "</circle>"
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)


def _legend(data: _Data) -> str:
    items = []
    for feature in data.features:
        dash = f' stroke-dasharray="{feature.dash}"' if feature.dash else ""
        items.append(
            '<li><svg width="30" height="12" aria-hidden="true" focusable="false">'
            f'<line x1="1" y1="6" x2="29" y2="6" stroke="{feature.colour}" stroke-width="3"{dash}/>'
            f'<circle cx="15" cy="6" r="3.5" fill="{feature.colour}"/></svg>{_e(feature.label)}</li>'
        )
    return '<ul class="legend" aria-label="Légende">' + "".join(items) + "</ul>"


# Narrower than the line chart and never stretched past its own width: its labels stay at 16 px on a desktop.
_BAR_W, _BAR_ROW = 720, 34
_BAR_LABEL_W = 272
_BAR_LABEL_CHARS = 30  # what fits in _BAR_LABEL_W at 16 px; longer labels are cut, whole in the tooltip


def _bar_chart(data: _Data) -> str:
    week = data.week
    features = [f for f in data.features if data.has(week, f.code)]
    values = [(f, data.get(week, f.code, "events")) for f in features]
    maximum = max((v for _, v in values if v is not None), default=0)
    height = max(1, len(values)) * _BAR_ROW + 8
    plot_w = _BAR_W - _BAR_LABEL_W - 72  # room for the value after the bar
    desc = "; ".join(
        f"{f.label} : {_int_fr(v) + ' événements' if v is not None else 'valeur masquée'}" for f, v in values
    ) or "Aucune donnée pour cette semaine."
    parts = [
        f'<svg class="chart" id="graphique-semaine" viewBox="0 0 {_BAR_W} {height}" role="img" '
        'aria-labelledby="semaine-titre semaine-desc">',
        f'<title id="semaine-titre">Événements par fonctionnalité, semaine {_e(week)}</title>',
        f"<desc id=\"semaine-desc\">{_e(desc)}</desc>",
    ]
    for row, (feature, value) in enumerate(values):
        top = 4 + row * _BAR_ROW
        middle = top + _BAR_ROW / 2
        label = feature.label
        if len(label) > _BAR_LABEL_CHARS:
            label = label[: _BAR_LABEL_CHARS - 1].rstrip() + "…"
        parts.append(f'<g class="bar" data-feature="{_e(feature.code)}">')
        parts.append(f'<text x="{_BAR_LABEL_W - 12}" y="{middle + 5:.1f}" text-anchor="end">{_e(label)}'
                     f"<title>{_e(feature.label)}</title></text>")
        if value is None:
            parts.append(f'<text x="{_BAR_LABEL_W}" y="{middle + 5:.1f}" class="masked">masqué</text>')
        else:
            width = max(2.0, plot_w * value / maximum) if maximum else 2.0
            parts.append(
                f'<rect x="{_BAR_LABEL_W}" y="{top + 5}" width="{width:.1f}" height="{_BAR_ROW - 10}" '
                f'fill="{feature.colour}" rx="2"><title>{_e(feature.label)} : {_int_fr(value)} événements</title>'
                "</rect>"
            )
            parts.append(
                f'<text x="{_BAR_LABEL_W + width + 8:.1f}" y="{middle + 5:.1f}" class="value">{_int_fr(value)}</text>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)


# --- tables and sections --------------------------------------------------------------------------------------

_COLUMNS = (("events", "Événements"), ("visits", "Visites"), ("visitors", "Visiteurs"))


def _latest_table(data: _Data) -> str:
    week = data.week
    body = []
    for feature in data.features:
        if not data.has(week, feature.code):
            continue
        cells = "".join(_cell(data.get(week, feature.code, col), col) for col, _ in _COLUMNS)
        body.append(f'<tr><th scope="row">{_e(feature.label)}</th>{cells}</tr>')
    if not body:
        body.append(f'<tr><td colspan="{len(_COLUMNS) + 1}">Aucune donnée pour cette semaine.</td></tr>')
    foot = ""
    if data.has(week, data.total_code):
        cells = "".join(_cell(data.get(week, data.total_code, col), col) for col, _ in _COLUMNS)
        foot = f'<tfoot><tr><th scope="row">Toutes fonctionnalités</th>{cells}</tr></tfoot>'
    heads = "".join(f'<th scope="col" class="num">{name}</th>' for _, name in _COLUMNS)
    return (
        '<div class="table-wrap"><table id="tableau-semaine">'
        f"<caption>Utilisation par fonctionnalité, semaine {_e(week)} ({_e(_week_span_fr(week))})</caption>"
        f'<thead><tr><th scope="col">Fonctionnalité</th>{heads}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody>{foot}</table></div>"
    )


def _series_table(data: _Data) -> str:
    heads = "".join(f'<th scope="col" class="num">{_e(f.label)}</th>' for f in data.features)
    body = []
    for week in reversed(data.weeks):
        cells = "".join(
            _cell(data.get(week, f.code, "events"), "events", data.has(week, f.code))
            for f in data.features
        )
        body.append(f'<tr><th scope="row">{_e(week)}</th>{cells}</tr>')
    return (
        '<details><summary>Données du graphique (événements par semaine)</summary>'
        '<div class="table-wrap"><table id="tableau-evolution">'
        "<caption>Nombre d'événements par semaine et par fonctionnalité</caption>"
        f'<thead><tr><th scope="col">Semaine</th>{heads}</tr></thead><tbody>{"".join(body)}</tbody>'
        "</table></div></details>"
    )


def _key_figures(data: _Data) -> str:
    week, previous = data.week, data.previous_week
    if not data.has(week, data.total_code):
        return ""
    cards = []
    for column, name in _COLUMNS:
        value = data.get(week, data.total_code, column)
        shown = _int_fr(value) if value is not None else f"&lt;{_NNBSP}{K_THRESHOLD}"
        before = data.get(previous, data.total_code, column) if previous else None
        change = ""
        if value is not None and before:
            ratio = (value - before) / before * 100
            sign = "+" if ratio >= 0 else "−"
            change = (f'<p class="change">{sign}{abs(ratio):.0f}{_NNBSP}% par rapport à la semaine '
                      f"{_e(previous)}</p>")
        cards.append(f'<div class="card"><p class="figure">{shown}</p><p class="what">{name.lower()}</p>{change}</div>')
    return (
        '<section aria-labelledby="chiffres-cles"><h2 id="chiffres-cles">La semaine en chiffres</h2>'
        f'<div class="cards">{"".join(cards)}</div></section>'
    )


def _field(condition: Any, name: str) -> Any:
    return condition[name] if isinstance(condition, Mapping) else getattr(condition, name)


def _exemption_section(exemption: Sequence[Any] | None) -> str:
    intro = (
        "<p>L'opérateur du service s'engage à ce que la mesure d'audience ne serve qu'à ces statistiques : ses "
        "données ne sont ni croisées avec d'autres traitements, ni transmises à des tiers, et ne permettent pas "
        "de suivre une personne d'un site à l'autre. La CNIL dispense une telle mesure du recueil du "
        f'consentement sous <a href="{_e(CNIL_URL)}">conditions</a> ; celles qui se mesurent sur les données '
        "sont vérifiées à chaque publication.</p>"
    )
    if exemption is None:
        return intro + "<p>Ces conditions n'ont pas été vérifiées pour cette publication.</p>"
    if not exemption:
        return intro + "<p>Aucune source de mesure n'a été vérifiée pour cette publication.</p>"
    # holds None: not measured (nothing declared, nothing to measure): never shown as met, not counted as broken
    failed = [c for c in exemption if _field(c, "holds") is False]
    unmeasured = [c for c in exemption if _field(c, "holds") is None]
    if failed:
        verdict = (
            f'<p class="verdict ko"><strong>{len(failed)} condition{"s" if len(failed) > 1 else ""} sur '
            f"{len(exemption)} n'{'est' if len(failed) == 1 else 'sont'} pas remplie{'s' if len(failed) > 1 else ''}"
            "</strong> : la mesure ne remplit pas, en l'état, les conditions de l'exemption.</p>"
        )
    elif unmeasured:
        verdict = (
            f'<p class="verdict ko"><strong>{len(unmeasured)} condition{"s" if len(unmeasured) > 1 else ""} sur '
            f"{len(exemption)} n'{'a' if len(unmeasured) == 1 else 'ont'} pas pu être "
            f"mesurée{'s' if len(unmeasured) > 1 else ''}</strong> : les autres sont remplies.</p>"
        )
    else:
        verdict = (
            f'<p class="verdict ok"><strong>Les {len(exemption)} conditions vérifiées sont remplies.</strong></p>'
        )
    rows = []
    for condition in exemption:
        holds = _field(condition, "holds")
        source = _field(condition, "source") if _has_source(condition) else ""
        if holds is None:
            status = '<td class="status ko">non mesuré</td>'
        else:
            status = '<td class="status ok">✓ oui</td>' if holds else '<td class="status ko">✗ non</td>'
        rows.append(
            f'<tr><th scope="row">{_e(_field(condition, "label"))}</th><td>{_e(source)}</td>'
            f"<td>{_e(_field(condition, 'measured'))}</td>{status}</tr>"
        )
    table = (
        '<div class="table-wrap"><table id="tableau-exemption">'
        "<caption>Conditions de l'exemption de consentement vérifiées</caption>"
        '<thead><tr><th scope="col">Condition</th><th scope="col">Source</th><th scope="col">Mesure</th>'
        '<th scope="col">Remplie</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    return intro + verdict + table


def _has_source(condition: Any) -> bool:
    return ("source" in condition) if isinstance(condition, Mapping) else hasattr(condition, "source")


_CSS = """
:root{--blue:#000091;--text:#161616;--muted:#555;--line:#ddd;--bg-alt:#f6f6f6;--ok:#18753c;--ko:#ce0500}
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:var(--text);
line-height:1.5;background:#fff}
a{color:var(--blue)}
.skip{position:absolute;left:-9999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem}
header{border-bottom:1px solid var(--line);padding:1rem 1.5rem}
header p{margin:0;font-weight:700;color:var(--blue);font-size:1.15rem}
main{max-width:62rem;margin:0 auto;padding:1.5rem}
h1{font-size:2rem;line-height:1.25;margin:.5rem 0}
h2{font-size:1.4rem;margin:2.5rem 0 .75rem;padding-top:1rem;border-top:1px solid var(--line)}
.lead{font-size:1.1rem;color:var(--muted);margin-top:0}
.cards{display:flex;flex-wrap:wrap;gap:1rem}
.card{flex:1 1 12rem;border:1px solid var(--line);border-bottom:4px solid var(--blue);padding:1rem 1.25rem}
.card p{margin:0}.figure{font-size:2rem;font-weight:700;font-variant-numeric:tabular-nums}
.what{color:var(--muted)}.change{font-size:.9rem;color:var(--muted);margin-top:.25rem!important}
figure{margin:0}
/* On a phone the charts keep a minimum width and scroll sideways rather than shrink their text to nothing. */
.chart-scroll{overflow-x:auto}
.chart{width:100%;height:auto;display:block;font-size:16px}
#graphique-evolution{min-width:640px}
#graphique-semaine{max-width:720px;min-width:520px}
.chart text{fill:#3a3a3a}.chart .year{font-weight:700}.chart .value{font-weight:700;fill:var(--text)}
.chart .masked{font-style:italic;fill:var(--muted)}
.chart .grid{stroke:#e5e5e5}.chart .x-axis line{stroke:#999}
figcaption{color:var(--muted);font-size:.9rem;margin-top:.5rem}
.legend{list-style:none;padding:0;margin:.75rem 0 0;display:flex;flex-wrap:wrap;gap:.35rem 1.25rem;font-size:.95rem}
.legend li{display:flex;align-items:center;gap:.4rem}
.table-wrap{overflow-x:auto;margin:1rem 0}
table{border-collapse:collapse;width:100%;font-size:.95rem}
caption{text-align:left;font-weight:700;padding-bottom:.5rem}
th,td{border-bottom:1px solid var(--line);padding:.5rem .75rem;text-align:left;vertical-align:top}
thead th{border-bottom:2px solid var(--text)}
tfoot th,tfoot td{font-weight:700;border-top:2px solid var(--text)}
tbody tr:nth-child(even){background:var(--bg-alt)}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.masked{color:var(--muted);font-style:italic}
sup{line-height:0}sup a{text-decoration:none;font-style:normal}
tbody th{font-weight:400}#tableau-evolution tbody th{white-space:nowrap}
.notes{font-size:.9rem;color:var(--muted)}
.status{white-space:nowrap;font-weight:700}.status.ok{color:var(--ok)}.status.ko{color:var(--ko)}
.verdict{padding:.75rem 1rem;border-left:4px solid}.verdict.ok{border-color:var(--ok)}
.verdict.ko{border-color:var(--ko)}.verdict.ok strong{color:var(--ok)}.verdict.ko strong{color:var(--ko)}
details{margin:1rem 0}summary{cursor:pointer;color:var(--blue)}
dl dt{font-weight:700}dl dd{margin:0 0 .5rem}
footer{border-top:1px solid var(--line);padding:1rem 1.5rem;color:var(--muted);font-size:.9rem}
footer p{max-width:62rem;margin:0 auto}
@media (max-width:36rem){main{padding:1rem}h1{font-size:1.6rem}th,td{padding:.4rem .2rem}
table{font-size:.8rem}.figure{font-size:1.6rem}}
@media print{.skip,details summary{display:none}details{display:block}}
"""


def render_stats_page(
    rows: Iterable[Mapping[str, Any]],
    *,
    service_name: str,
    week: str,
    generated_at: dt.datetime,
    dataset_url: str | None = None,
    exemption: Sequence[Any] | None = None,
    licence_title: str = "Licence Ouverte 2.0",
    licence_url: str | None = LICENCE_URL,
    citation: str | None = None,
    total_code: str = TOTAL_CODE,
    contact: str | None = None,
    datasets: Sequence[tuple[str, str]] = (),
) -> str:
    """The page for the release of ISO week `week` (e.g. "2026-W47").

    `rows` are rows of the usage dataset keyed by role (see commons_assets.service.USAGE_ROLES): week,
    feature, feature_label, events, visits, visitors; None for a suppressed count; a `total` row per week
    is the weekly total, not a feature). Weeks after `week` are left out. `generated_at` is shown in Paris
    time (a naive datetime is taken as Paris time). `exemption` is a list of ExemptionCondition (or dicts with
    code, label, holds, measured and optionally source); None means « not checked ». `contact` (an e-mail address
    or an http(s) URL) and `datasets`, the (title, page URL) of every dataset of the release, are linked from
    the « Données et licence » section."""
    Week.parse(week)  # fails early on a malformed week
    if dataset_url is not None and not dataset_url.startswith(("https://", "http://")):
        raise ValueError("dataset_url must be an http(s) address")
    for _, url in datasets:
        if not url.startswith(("https://", "http://")):
            raise ValueError("a dataset's page must be an http(s) address")
    if contact is not None and "@" not in contact and not contact.startswith(("https://", "http://")):
        raise ValueError("contact must be an e-mail address or an http(s) address")
    data = _Data(rows, week, total_code)
    if generated_at.tzinfo is None:
        generated_at = generated_at.replace(tzinfo=TIMEZONE)
    generated = generated_at.astimezone(TIMEZONE)
    title = f"Statistiques d'utilisation — {service_name}"
    description = f"Utilisation hebdomadaire des fonctionnalités de {service_name}, sous {licence_title}"
    span = _week_span_fr(week)
    features = data.features

    evolution = (
        '<section aria-labelledby="evolution"><h2 id="evolution">Évolution par fonctionnalité</h2>'
        + (
            f'<figure><div class="chart-scroll">{_line_chart(data)}</div>{_legend(data)}'
            f"<figcaption>Nombre d'événements par semaine ISO, de {_e(data.weeks[0])} à {_e(data.weeks[-1])}. "
            "Une interruption de la courbe signale une semaine où la valeur est masquée.</figcaption></figure>"
            + _series_table(data)
            if features and data.weeks
            else "<p>Aucune donnée à afficher.</p>"
        )
        + "</section>"
    )
    latest = (
        f'<section aria-labelledby="semaine"><h2 id="semaine">La semaine {_e(week)} par fonctionnalité</h2>'
        + (f'<figure><div class="chart-scroll">{_bar_chart(data)}</div>'
           f"<figcaption>Nombre d'événements par fonctionnalité, {_e(span)}.</figcaption></figure>"
           if any(data.has(week, f.code) for f in features) else "")
        + _latest_table(data)
        + '<div class="notes">'
        f'<p id="note-secret"><sup>1</sup> « &lt;{_NNBSP}{K_THRESHOLD} » : moins de {K_THRESHOLD}. Les nombres '
        f"inférieurs à {K_THRESHOLD} ne sont pas publiés (secret statistique) : un si petit nombre pourrait "
        "concerner une personne reconnaissable.</p>"
        f'<p id="note-masque"><sup>2</sup> « masqué » : moins de {K_THRESHOLD}, ou davantage mais masqué en plus, '
        "parce qu'il permettrait de retrouver par différence avec le total une valeur inférieure à "
        f"{K_THRESHOLD} (secret secondaire).</p></div></section>"
    )
    method = (
        '<section aria-labelledby="methode"><h2 id="methode">Méthode de mesure</h2><dl>'
        "<dt>Événement</dt><dd>Une action d'un visiteur dans une fonctionnalité du service. "
        "Les actions qui ne relèvent d'aucune fonctionnalité déclarée sont comptées "
        "dans « Autre ».</dd>"
        "<dt>Visite</dt><dd>Une suite d'actions d'un même visiteur sans longue interruption ; une visite qui "
        "utilise plusieurs fonctionnalités compte dans chacune, d'où des totaux inférieurs à la somme des "
        "lignes.</dd>"
        "<dt>Visiteur</dt><dd>Un identifiant de visiteur distinct dans la semaine : une même personne sur deux "
        "appareils compte deux fois, deux personnes sur un même navigateur une seule.</dd>"
        "<dt>Semaine</dt><dd>Semaine ISO, du lundi 0 h au dimanche 24 h, heure de Paris.</dd></dl>"
        "<h3>Exemption de consentement</h3>"
        + _exemption_section(exemption)
        + "</section>"
    )
    dataset = (
        f'<p><a href="{_e(dataset_url)}">Télécharger les données</a> (CSV et Parquet, avec leur description), '
        "publiées chaque semaine.</p>"
        if dataset_url
        else "<p>Les données de cette page accompagnent chaque publication hebdomadaire du service "
        "(fichiers CSV et Parquet, avec leur description).</p>"
    )
    if datasets:
        dataset += (
            '<p>Les jeux de données de cette publication sur data.gouv.fr :</p><ul id="jeux-de-donnees">'
            + "".join(f'<li><a href="{_e(url)}">{_e(name)}</a></li>' for name, url in datasets)
            + "</ul>"
        )
    if contact:
        href = contact if contact.startswith(("https://", "http://")) else f"mailto:{contact}"
        dataset += (f'<p id="contact">Une question, une erreur à signaler ? <a href="{_e(href)}">Contacter '
                    f"l'équipe du service</a>.</p>")
    licence = (
        '<section aria-labelledby="licence"><h2 id="licence">Données et licence</h2>'
        + dataset
        + "<p>Ces statistiques sont publiées sous "
        + (f'<a href="{_e(licence_url)}">{_e(licence_title)}</a>' if licence_url else _e(licence_title))
        + " : "
        "chacun peut les réutiliser dans les conditions de cette licence, en citant "
        f"la source (« {_e(citation or service_name)} ») et la date de mise à jour.</p>"
        "<p>Les chiffres, le code qui les calcule et cette page sont ouverts : aucune analyse n'est réservée "
        "à l'opérateur du service.</p></section>"
    )
    generated_text = f"{_day_fr(generated.date())} à {generated:%H:%M}"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="fr">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            # Nothing to load, and the browser is told so: no script, no font, no image from anywhere.
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; '
            "img-src data:; base-uri 'none'; form-action 'none'\">",
            '<meta name="referrer" content="no-referrer">',
            f"<title>{_e(title)}</title>",
            f'<meta name="description" content="{_e(description)}">',
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            '<a class="skip" href="#contenu">Aller au contenu</a>',
            f"<header><p>{_e(service_name)}</p></header>",
            '<main id="contenu">',
            f"<h1>{_e(title)}</h1>",
            f'<p class="lead">Semaine {_e(week)}, {_e(span)}. Ces chiffres sont mis à jour chaque semaine.</p>',
            _key_figures(data),
            evolution,
            latest,
            method,
            licence,
            "</main>",
            f"<footer><p>Page générée le {_e(generated_text)} (heure de Paris) par commons-assets. Elle ne charge "
            "aucune ressource extérieure et ne dépose aucun cookie.</p></footer>",
            "</body>",
            "</html>",
            "",
        ]
    )
