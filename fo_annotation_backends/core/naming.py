"""Identifiers made from arbitrary names, shared by the converters.

Services want keys made of a few ASCII characters (Kili's category keys and
job names, FastLabel's class values, attribute keys and option values),
while FiftyOne's class names, fields and attribute values are any strings.
These helpers derive a readable key from a name, make it unique among the
keys already taken, and reuse the keys of a stored run exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_NON_ALNUM_RE = re.compile(r"[^0-9A-Za-z]+")


def sanitize(name: object, upper: bool = False) -> str:
    """``name`` with every run of non-ASCII-alphanumeric characters replaced
    by ``_`` (stripped at both ends), upper- or lower-cased; may be ``""``."""
    base = _NON_ALNUM_RE.sub("_", str(name)).strip("_")
    return base.upper() if upper else base.lower()


def base_identifier(name: object, fallback: str, prefix: str | None = None, upper: bool = False) -> str:
    """The identifier of ``name`` before it is made unique.

    Args:
        name: any string
        fallback: the identifier when ``name`` has no ASCII letter or digit
        prefix (None): prepended (with ``_``) when the identifier does not
            start with a letter; ``None`` to allow any first character
        upper (False): upper-case (else lower-case) letters
    """
    base = sanitize(name, upper) or fallback
    if prefix is not None and not base[0].isalpha():
        base = "%s_%s" % (prefix, base)
    return base


def claim(base: str, taken: set[str]) -> str:
    """``base``, or ``base_2``, ``base_3``... if taken; added to ``taken``."""
    candidate, i = base, 1
    while candidate in taken:
        i += 1
        candidate = "%s_%d" % (base, i)
    taken.add(candidate)
    return candidate


def identifier(name: object, taken: set[str], fallback: str, prefix: str | None, upper: bool = False) -> str:
    """A unique ``[A-Za-z0-9_]`` identifier for ``name``, added to ``taken``
    (see :func:`base_identifier`)."""
    return claim(base_identifier(name, fallback, prefix, upper), taken)


def upper_identifier(name: object, taken: set[str], fallback: str, prefix: str | None) -> str:
    """An upper-case ``[A-Z0-9_]`` identifier starting with a letter (Kili)."""
    return identifier(name, taken, fallback, prefix, upper=True)


def lower_identifier(name: object, taken: set[str], fallback: str, prefix: str | None) -> str:
    """A lower-case ``[a-z0-9_]`` identifier starting with a letter."""
    return identifier(name, taken, fallback, prefix, upper=False)


def assign_keys(
    names: Iterable[str],
    stored: Mapping[str, str] | None,
    fallback: str = "CATEGORY_%d",
    prefix: str | None = "C",
    upper: bool = True,
) -> dict[str, str]:
    """``{name: key}`` in ``names`` order, reusing the ``stored`` keys.

    Args:
        names: the exact names, in order
        stored: ``{name: key}`` of a stored run (reused exactly; their keys
            stay reserved even for names no longer listed), or ``None``
        fallback ("CATEGORY_%d"): the key of a name without ASCII letters or
            digits, formatted with its 1-based position
        prefix ("C"): prepended to keys that start with a digit
        upper (True): upper-case (Kili) or lower-case keys
    """
    stored = dict(stored or {})
    taken = set(stored.values())
    keys: dict[str, str] = {}
    for index, name in enumerate(names, start=1):
        keys[name] = stored[name] if name in stored else identifier(name, taken, fallback % index, prefix, upper)
    return keys


def unique_strings(values: Iterable[object]) -> list[str]:
    """The distinct ``str()`` forms of ``values``, in order."""
    out: list[str] = []
    for value in values:
        if str(value) not in out:
            out.append(str(value))
    return out
