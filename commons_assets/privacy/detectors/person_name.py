"""Person names: a known French first name next to a capitalised word, or a civility and a name."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from commons_assets.privacy.detectors._common import LETTER, UPPER, WS, AnyOf, Prefiltered, Regex, sql_string

NAME = "person_name"
DESCRIPTION = "Person names: a known first name next to a capitalised word (Jean Dupont), or M./Mme + name."
LABELS = (
    "nom", "prenom", "prénom", "nom_complet", "name", "full_name", "first_name", "last_name", "auteur",
    "agent",
)
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
# Filled by detectors.install_functions() with spellings(); read by the SQL predicate. A constant written as is
# in the detectors' SQL text, like the functions' names: the schema functions.sql creates, never a setting.
FIRST_NAMES_TABLE = "commons_privacy.first_names"


@cache
def first_names() -> frozenset[str]:
    """The dictionary: lower-case first names, accented and plain forms, from data/first_names_fr.txt."""
    lines = FIRST_NAMES_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


@cache
def spellings() -> frozenset[str]:
    """How a first name is written next to a surname: Capitalised (Jean, Jean-Pierre) or in capitals (JEAN).

    Storing the spellings rather than folding case at lookup time keeps SQL and Python identical: no
    lower() whose behaviour on É depends on the database collation.
    """
    forms = set()
    for name in first_names():
        forms.add("-".join(part[:1].upper() + part[1:] for part in name.split("-")))
        forms.add(name.upper())
    return frozenset(forms)


# Decision: text is cut into word tokens and each token is looked up in the dictionary (a primary-key
# table in PostgreSQL, a frozenset in Python); a first name counts when it is followed by a capitalised
# word (Jean Dupont, Marie-Claire MARTIN) or preceded by a word in capitals (DUPONT Jean, the
# administrative order). Tokenising is the expensive part in PostgreSQL (tens of microseconds per value),
# so a regex prefilter lets through only the values where such a pair can exist: a word starting like a
# known first name (its first three letters, a small automaton) next to a capitalised word. "Windows NT",
# "Dépôt Sauvage" or "Mairie de Paris" stop there. The whole dictionary compiled into one regex was tried
# first: exact, but ~150 us per value in PostgreSQL (its automaton cache thrashes on 1,200 spellings).
# Case is significant on purpose: the capital is what tells "Jean Dupont" from "jean a appelé"; lower-case
# names are an accepted false negative.
_WORD = f"{LETTER}0-9_"


def _trie_regex(words: set[str]) -> str:
    """An alternation of `words` factored as a trie (Jea|Jér -> J(?:ea|ér)), cheap for both engines."""
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
        optional = "" in node
        if len(branches) == 1 and not optional:
            return branches[0]
        return "(?:" + "|".join(branches) + ")" + ("?" if optional else "")

    return build(trie)


_NAME_START = "(?:" + _trie_regex({spelling[:3] for spelling in spellings()}) + ")"
_PAIR_PREFILTER = Regex(
    # a word starting like a first name, then blanks, then a capitalised word (rule "Jean Dupont")
    f"(^|[^{_WORD}]){_NAME_START}[{_WORD}]*(?:-[{_WORD}]+)*{WS}+[{UPPER}][{LETTER}]"
    # a word in capitals, then blanks, then a word starting like a first name (rule "DUPONT Jean")
    f"|[{UPPER}]{{2,}}(?:-[{UPPER}]{{2,}})*{WS}+{_NAME_START}"
)
_TOKENIZER = Regex(f"([{_WORD}]+(?:-[{_WORD}]+)*)([^{_WORD}]*)")
_WHITESPACE_ONLY = Regex(f"^{WS}+$")
_CAPITALISED = Regex(f"^[{UPPER}][{LETTER}]")
_IN_CAPITALS = Regex(f"^[{UPPER}]{{2,}}(?:-[{UPPER}]{{2,}})*$")
_CIVILITY_SKELETON = Regex(f"[MDP][A-Za-z]*[.]*{WS}+[{UPPER}][{LETTER}]")
_CIVILITY = Regex(
    f"(^|[^{_WORD}])"
    r"(?:M\.|MM\.|Mmes?|Mlles?|MME|MLLE|Mrs?|Ms|Dr|Pr|Monsieur|Madame|Mademoiselle|Docteur|Professeur"
    r"|MONSIEUR|MADAME|MADEMOISELLE)\.?"
    f"{WS}+[{UPPER}][{LETTER}]"
)


def _is_first_name(token: str) -> bool:
    known = spellings()
    return token in known or token.split("-", 1)[0] in known


class _NamePairs:
    """The token check, in Python and as an SQL subquery (lead/lag over regexp_matches tokens)."""

    def search(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        tokens = [(m.group(1), m.group(2)) for m in _TOKENIZER.compiled.finditer(value)]
        for i, (token, separator) in enumerate(tokens):
            if not _is_first_name(token):
                continue
            # a first name followed by a capitalised word (« Jean Dupont »)
            if i + 1 < len(tokens) and _WHITESPACE_ONLY.search(separator) and _CAPITALISED.search(tokens[i + 1][0]):
                return True
            # a surname in capitals before a first name (« DUPONT Jean »)
            if i > 0 and _WHITESPACE_ONLY.search(tokens[i - 1][1]) and _IN_CAPITALS.search(tokens[i - 1][0]):
                return True
        return False

    def sql(self, column_sql: str) -> str:
        tokens = (
            "select m[1] as token, m[2] as sep, lead(m[1]) over w as next_token, "
            "lag(m[1]) over w as previous_token, lag(m[2]) over w as previous_sep "
            f"from regexp_matches(({column_sql}), {sql_string(_TOKENIZER.source)}, 'g') "
            "with ordinality as r(m, n) window w as (order by n)"
        )
        return (
            f"exists (select 1 from ({tokens}) as t where "
            f"(({_WHITESPACE_ONLY.sql('t.sep')} and {_CAPITALISED.sql('t.next_token')}) "
            f"or ({_WHITESPACE_ONLY.sql('t.previous_sep')} and {_IN_CAPITALS.sql('t.previous_token')})) "
            f"and exists (select 1 from {FIRST_NAMES_TABLE} as f "
            "where f.spelling = t.token or f.spelling = split_part(t.token, '-', 1)))"
        )


# Each stage is cheaper than the next and rules most values out: two adjacent capitalised words, then
# one of them starting like a first name, then the exact token check.
_CAPITALISED_PAIR = Regex(f"[{UPPER}][{_WORD}-]*{WS}+[{UPPER}][{LETTER}]")
_DETECTOR = AnyOf(
    Prefiltered(_CIVILITY_SKELETON, _CIVILITY),
    Prefiltered(_CAPITALISED_PAIR, Prefiltered(_PAIR_PREFILTER, _NamePairs())),
)


def sql_predicate(column_sql: str) -> str:
    return _DETECTOR.sql(column_sql)


def matches(value: str) -> bool:
    return _DETECTOR.search(value)
