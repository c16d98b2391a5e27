"""Person names: a known French first name next to a capitalised word, or a civility and a name."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from commons_assets.privacy.detectors._common import LETTER, UPPER, WS, Regex

NAME = "person_name"
DESCRIPTION = "Person names: a dictionary first name followed by a capitalised word (Jean Dupont, DUPONT Jean), or M./Mme + name."
LABELS = ("nom", "prenom", "prénom", "nom_complet", "name", "full_name", "first_name", "last_name", "auteur", "agent")
TRUE_VALUES = (
    "Jean Dupont",
    "Marie-Claire Martin",
    "M. Dupont",
    "Mme Martin",
    "Signalé par Hélène Lefèvre hier soir",
    "JEAN DUPONT",
    "DUPONT Jean",
    "Contact : Élodie Bernard",
    "Merci à Monsieur Durand",
    "Elodie Bernard",
    "Dr Lefebvre",
)
FALSE_VALUES = (
    "Jean",
    "Voirie",
    "Paris",
    "Île-de-France",
    "Mairie de Paris",
    "M. le maire a répondu",
    "Dépôt Sauvage Signalé",
    "jean dupont a signalé",
    "Jeannot Lapin",
    "depot_sauvage",
)

FIRST_NAMES_FILE = Path(__file__).with_name("data") / "first_names_fr.txt"


@cache
def first_names() -> frozenset[str]:
    """The dictionary: lower-case first names, accented and plain forms, from data/first_names_fr.txt."""
    lines = FIRST_NAMES_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def _trie_regex(words: set[str]) -> str:
    """An alternation of `words` factored as a trie (Jean|Jeanne -> Jean(?:ne)?).

    Both engines then match it quickly: Python's backtracking tries one branch per letter instead of
    600 names, and PostgreSQL compiles a small automaton.
    """
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        branches = [ch + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        ends_here = "" in node
        if len(branches) == 1 and not ends_here:
            return branches[0]
        return "(?:" + "|".join(branches) + ")" + ("?" if ends_here else "")

    return build(trie)


def _name_forms() -> set[str]:
    """How a first name is written next to a surname: Capitalised (Jean-Pierre) or in capitals (JEAN)."""
    forms = set()
    for name in first_names():
        forms.add("-".join(part[:1].upper() + part[1:] for part in name.split("-")))
        forms.add(name.upper())
    return forms


_WORD_CHAR = f"[{LETTER}0-9_]"
_NOT_WORD = f"[^{LETTER}0-9_]"
_GUARD = f"(^|{_NOT_WORD})"
_FIRST_NAME = "(?:" + _trie_regex(_name_forms()) + f")(?:-[{UPPER}][{LETTER}]*)*"
_CAPITALISED_WORD = f"[{UPPER}][{LETTER}]"
_CAPS_WORD = f"[{UPPER}]{{2,}}(?:-[{UPPER}]{{2,}})*"
_CIVILITY = (
    r"(?:M\.|MM\.|Mmes?|Mlles?|MME|MLLE|Mrs?|Ms|Dr|Pr|Monsieur|Madame|Mademoiselle|Docteur|Professeur"
    r"|MONSIEUR|MADAME|MADEMOISELLE)\.?"
)

# Decision: the dictionary is compiled into the pattern itself (a trie of ~1,200 spellings) rather than
# looked up in a table. The predicate stays one regex test, which PostgreSQL compiles once per session and
# caches, with no per-row subquery, no installed state to keep in sync with the txt file, and the very
# same decision in Python. Case is significant on purpose: the capital is what tells "Jean Dupont" from
# "jean a appelé" — lower-case names are an accepted false negative.
_PATTERN = Regex(
    # Jean Dupont, Marie-Claire MARTIN, JEAN DUPONT.
    f"{_GUARD}{_FIRST_NAME}{WS}+{_CAPITALISED_WORD}"
    # DUPONT Jean: the administrative order, surname in capitals first.
    f"|{_GUARD}{_CAPS_WORD}{WS}+{_FIRST_NAME}(?!{_WORD_CHAR})"
    # M. Dupont, Mme Martin, Docteur Lefebvre.
    f"|{_GUARD}{_CIVILITY}{WS}+{_CAPITALISED_WORD}"
)


def sql_predicate(column_sql: str) -> str:
    return _PATTERN.sql(column_sql)


def matches(value: str) -> bool:
    return _PATTERN.search(value)
