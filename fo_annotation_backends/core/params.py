"""Parameter checks every backend config runs when it is built, so that a
misspelled or invalid option is refused before anything is created.

FiftyOne stores unknown keyword arguments of a config silently as
attributes; :func:`reject_unknown_parameters` turns them into an error that
names the closest valid parameter.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ParameterError

# parameters of FiftyOne's own AnnotationBackendConfig
_FIFTYONE_PARAMETERS = ("name", "label_schema", "media_field")


def valid_parameters(config_cls: type) -> list[str]:
    """The keyword parameters ``config_cls(...)`` accepts by name."""
    names = set(_FIFTYONE_PARAMETERS)
    for cls in config_cls.__mro__:
        init = cls.__dict__.get("__init__")
        if init is None:
            continue
        for parameter in inspect.signature(init).parameters.values():
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
                names.add(parameter.name)
    names.discard("self")
    return sorted(names)


def reject_unknown_parameters(config_cls: type, backend_name: str, unknown: Mapping[str, Any]) -> None:
    """Raises :class:`ParameterError` when ``unknown`` (the keyword arguments
    a config's ``__init__`` did not consume) is not empty.

    Args:
        config_cls: the config class
        backend_name: the backend's name, for the message
        unknown: ``{name: value}`` of the leftover keyword arguments
    """
    if not unknown:
        return
    valid = valid_parameters(config_cls)
    problems = []
    for name in sorted(unknown):
        close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
        hint = "; did you mean '%s'?" % close[0] if close else ""
        problems.append("'%s'%s" % (name, hint))
    raise ParameterError(
        "Unknown parameter%s for the %s backend: %s. Nothing was created. Valid parameters: %s"
        % ("s" if len(problems) > 1 else "", backend_name, ", ".join(problems), ", ".join(valid))
    )


def check_positive(
    config: object, names: Iterable[str], integer: bool = True, allow_zero: bool = False, allow_none: bool = True
) -> None:
    """Raises :class:`ParameterError` unless each of ``config``'s attributes
    ``names`` is a positive number (an int when ``integer``; zero too when
    ``allow_zero``), or ``None`` when ``allow_none``."""
    for name in names:
        value = getattr(config, name, None)
        if value is None and allow_none:
            continue
        kinds = (int,) if integer else (int, float)
        too_small = value < 0 if allow_zero and isinstance(value, kinds) else not isinstance(value, kinds) or value <= 0
        if isinstance(value, bool) or not isinstance(value, kinds) or too_small:
            raise ParameterError(
                "`%s` must be a %s %s, not %r"
                % (name, "non-negative" if allow_zero else "positive", "integer" if integer else "number", value)
            )


def check_choice(config: object, name: str, choices: Iterable[object]) -> None:
    """Raises :class:`ParameterError` unless ``config.<name>`` is one of
    ``choices``."""
    value = getattr(config, name, None)
    # by type too: 1 == True, but `local_files=1` is not a choice
    if not any(value == choice and type(value) is type(choice) for choice in choices):
        raise ParameterError("`%s` must be one of %s, not %r" % (name, ", ".join(repr(c) for c in choices), value))


def optional_string(name: str, value: object) -> str | None:
    """``value`` when it is ``None`` or a non-empty string.

    Raises:
        ParameterError: naming the parameter ``name``
    """
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ParameterError("`%s` must be a non-empty string, not %r" % (name, value))
    return value
