"""Numbers as a French reader writes them, in every text the public reads (README, privacy report, stats page).

One choice, kept everywhere: the narrow no-break space (U+202F) separates thousands and comes before « % »,
as the Imprimerie nationale's rules and the stats page do; the decimal mark is a comma. A plain space would let
a line break split « 50 671 » in two."""

from __future__ import annotations

NNBSP = "\u202f"  # narrow no-break space


def integer(value: int) -> str:
    """50671 → « 50 671 » (narrow no-break space); negative numbers keep their minus sign."""
    return f"{int(value):,}".replace(",", NNBSP)


def decimal(value: float, digits: int = 1) -> str:
    """1234.56 → « 1 234,6 »: thousands grouped, comma as decimal mark."""
    return f"{value:,.{digits}f}".replace(",", NNBSP).replace(".", ",")


def percent(share: float, digits: int = 1) -> str:
    """0.0123 → « 1,2 % »: a share between 0 and 1 as a French percentage."""
    return f"{decimal(share * 100, digits)}{NNBSP}%"
