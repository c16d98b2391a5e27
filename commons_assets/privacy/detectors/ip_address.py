"""IPv4 and IPv6 addresses, alone or inside URLs, logs and user agents, but not software versions."""

from __future__ import annotations

from commons_assets.privacy.detectors._common import AnyOf, Prefiltered, Regex

NAME = "ip_address"
DESCRIPTION = "IPv4 (octets <= 255) and IPv6 addresses; a dotted quad right after 'name/' is a version."
LABELS = ("ip", "ip_address", "adresse_ip", "ipv4", "ipv6", "remote_addr", "x_forwarded_for", "client_ip")
TRUE_VALUES = (
    "192.168.1.12",
    "Connexion depuis 83.112.45.201 à 14h",
    "http://10.0.0.5:8080/admin",
    "https://user@172.16.254.1/login",
    "Mozilla/5.0 (X11; Linux x86_64) relay 91.198.174.192",
    "ip=8.8.8.8;",
    "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
    "2a01:cb04:1234:5600:a1b2:c3d4:e5f6:789a",
    "fe80::1ff:fe23:4567:890a",
    "http://[2001:db8::42]:443/",
    "::ffff:203.0.113.7",
)
FALSE_VALUES = (
    "1.2.3",
    "Chrome/120.0.6099.109",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "256.300.1.1",
    "10.0.19045.3570",
    "1.2.3.4.5",
    "v4.2.1.0",
    "12:34:56",
    "2026.11.14",
    "std::vector",
    "00:1a:2b:3c:4d:5e",
)

_OCTET = "(?:25[0-5]|2[0-4][0-9]|[01]?[0-9]{1,2})"
# Decision (documented in the module list of the package): a dotted quad right after "<token>/" is a
# product version (Chrome/120.0.0.0 in every Chrome user agent), not an address; so is one glued to a
# letter or an underscore (v4.2.1.0, build_1.2.3.4). "//" (a URL authority) still introduces an address.
# A fifth ".n" part, or a component above 255, also makes it a version.
_IPV4 = Regex(
    r"(^|[^0-9A-Za-z_./]|//)"
    + rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}"
    + r"(?![0-9]|\.[0-9])"
)

_H = "[0-9a-f]{1,4}"


def _groups(count: int) -> str:
    if count == 0:
        return ""
    return _H + (f"(?::{_H}){{{count - 1}}}" if count > 1 else "")


def _ipv6_alternatives() -> str:
    """Every IPv6 shape: 8 groups, or k groups, '::', m groups (k + m <= 7, at least 2 groups in all).

    Requiring two groups keeps "::1"-like tokens and C++ "a::b" scopes rare; an IPv4-mapped tail
    (::ffff:1.2.3.4) is flagged by the IPv4 pattern.
    """
    shapes = [f"{_H}(?::{_H}){{7}}"]
    for left in range(0, 8):
        for right in range(0, 8 - left):
            if left + right < 2:
                continue
            shapes.append(f"{_groups(left)}::{_groups(right)}")
    return "|".join(shapes)


_IPV6 = Regex(
    r"(^|[^0-9a-z:._])(?:" + _ipv6_alternatives() + r")(?![0-9a-z:])",
    ignore_case=True,
)


# Prefilters: a dotted quad of digits; for IPv6 a "::" or a hex group between two colons.
_DETECTOR = AnyOf(
    Prefiltered(Regex(r"[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]"), _IPV4),
    Prefiltered(Regex("::|:[0-9a-f]{1,4}:", ignore_case=True), _IPV6),
)


def sql_predicate(column_sql: str) -> str:
    return _DETECTOR.sql(column_sql)


def matches(value: str) -> bool:
    return _DETECTOR.search(value)
