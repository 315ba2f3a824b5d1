"""How every settings section is read: a ``[section]`` table of the TOML file, then environment variables, then
explicit overrides (the CLI's flags) — each value coerced to its field's type, with errors that name the setting.
"""

from __future__ import annotations

import os
import tomllib
import types
import typing
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, TypeVar

from dmslab.errors import ConfigError

__all__ = ["coerce", "config_file", "env_names", "override", "read_layers", "read_section"]

T = TypeVar("T")

_BOOL = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


def config_file(home: Path) -> Path:
    """The TOML file: ``$DMSLAB_CONFIG`` or ``<home>/dmslab.toml`` (it need not exist)."""
    return Path(os.environ.get("DMSLAB_CONFIG", home / "dmslab.toml"))


def env_names(cls: type) -> dict[str, str]:
    """Field name -> environment variable of a section class: ``DMSLAB_<ENV_PREFIX><NAME>`` unless the class's
    ``ENV_ALIASES`` names another variable (kept for variables documented before the sections existed)."""
    prefix = getattr(cls, "ENV_PREFIX", "")
    aliases: dict[str, str] = getattr(cls, "ENV_ALIASES", {})
    return {f.name: aliases.get(f.name, f"DMSLAB_{prefix}{f.name.upper()}") for f in fields(cls)}


def read_layers(home: Path, section: str, env: dict[str, str], overrides: dict[str, Any]) -> dict[str, Any]:
    """Raw values of one section: the ``[section]`` table of the TOML file, then the environment variables in
    ``env`` (field name -> variable), then ``overrides`` (``None`` ignored). Unknown names in the file are an error.
    """
    values: dict[str, Any] = {}
    cfg_file = config_file(home)
    if cfg_file.is_file():
        try:
            with open(cfg_file, "rb") as fh:
                file_values = tomllib.load(fh).get(section, {})
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{cfg_file} is not valid TOML: {exc}") from exc
        bad = set(file_values) - set(env)
        if bad:
            raise ConfigError(f"{cfg_file} [{section}]: unknown setting(s) {sorted(bad)}; allowed: {sorted(env)}")
        values.update(file_values)
    for name, var in env.items():
        raw = os.environ.get(var)
        if raw is not None:
            values[name] = raw
    values.update({k: v for k, v in overrides.items() if v is not None})
    return values


def _target_type(hint: Any) -> tuple[Any, bool]:
    """The concrete type of a field's annotation and whether ``None`` is allowed."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(hint))
    return hint, False


def coerce(cls: type, name: str, raw: Any) -> Any:
    """``raw`` (a TOML value, an environment string or a flag) as the type of field ``name`` of ``cls``.

    Raises
    ------
    ConfigError
        Naming the section, the setting and the value when it cannot be used.
    """
    section = getattr(cls, "SECTION", cls.__name__)
    target, optional = _target_type(typing.get_type_hints(cls)[name])
    if raw is None or (optional and isinstance(raw, str) and not raw.strip()):
        return None
    try:
        if target is bool:
            if isinstance(raw, bool):
                return raw
            return _BOOL[str(raw).strip().lower()]
        if target in (int, float):
            return target(raw)
        if target is Path:
            return Path(str(raw)).expanduser()
        if typing.get_origin(target) is tuple:
            items = raw.split(",") if isinstance(raw, str) else list(raw)
            return tuple(str(a).strip() for a in items if str(a).strip())
    except KeyError:
        raise ConfigError(f"[{section}] {name} must be one of {sorted(_BOOL)}, got {raw!r}") from None
    except (TypeError, ValueError) as exc:
        kind = "a whole number" if target is int else f"a {getattr(target, '__name__', target)}"
        raise ConfigError(f"[{section}] {name} must be {kind}, got {raw!r}") from exc
    return str(raw)


def override(obj: T, **values: Any) -> T:
    """A copy of the section ``obj`` with ``values`` (``None`` ignored) coerced and validated.

    Raises
    ------
    ConfigError
        On an unknown setting or a value that cannot be used.
    """
    cls = type(obj)
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown [{getattr(cls, 'SECTION', cls.__name__)}] setting(s) {sorted(unknown)}; "
                          f"allowed: {sorted(known)}")
    return replace(obj, **{k: coerce(cls, k, v) for k, v in values.items() if v is not None})  # type: ignore[type-var]


def read_section(cls: type[T], home: Path, defaults: dict[str, Any] | None = None) -> T:
    """Section ``cls`` for the site at ``home``: ``defaults`` < TOML ``[cls.SECTION]`` < environment."""
    env = env_names(cls)
    raw = read_layers(home, getattr(cls, "SECTION", cls.__name__), env, {})
    values = {**(defaults or {}), **{k: coerce(cls, k, v) for k, v in raw.items()}}
    return cls(**values)
