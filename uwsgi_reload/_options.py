"""uwsgi_reload's settings, read from uWSGI's options and ini file. Pure: no ``uwsgi``."""

from __future__ import annotations

import math
import os
import re
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional

INTERVAL_KEY = "uwsgi-reload-interval"
EXTRA_KEY = "uwsgi-reload-extra-files"
IGNORE_KEY = "uwsgi-reload-ignore"
ENABLED_KEY = "uwsgi-reload"
PRELOAD_KEY = "uwsgi-reload-preload"
KEYS = (ENABLED_KEY, INTERVAL_KEY, EXTRA_KEY, IGNORE_KEY, PRELOAD_KEY)

DEFAULT_INTERVAL = 3.0
# Below this a scan of a few thousand files would cost a noticeable share of a
# core; above it nobody is waiting for a reload any more.
MIN_INTERVAL = 0.1
MAX_INTERVAL = 3600.0

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


class Options(NamedTuple):
    enabled: bool = True
    interval: float = DEFAULT_INTERVAL
    extra: List[str] = []
    ignore: List[str] = []
    preload: bool = False


def printable(text: str) -> str:
    """*text* with control characters and undecodable bytes escaped, for a log line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        # uWSGI's Python plugin turns a key given several times into a list
        # (2.0.x only does that for some keys); whitespace joins them as values.
        return " ".join(_text(item) for item in value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if value is True:
        return "true"
    return str(value)


def _ini_location(opt: Mapping[str, Any], cwd_candidates: List[str]) -> Optional[tuple]:
    raw = opt.get("ini")
    if raw is None or raw is True:
        return None
    if isinstance(raw, (list, tuple)):
        raw = raw[-1]
    spec = _text(raw)
    path, section = spec, "uwsgi"
    if ":" in spec and not os.path.exists(spec):
        path, section = spec.rsplit(":", 1)
    for base in [""] + cwd_candidates:
        candidate = os.path.join(base, path)
        if os.path.isfile(candidate):
            return os.path.abspath(candidate), section
    return None


def _expand_magic(value: str, ini_path: str, opt: Mapping[str, Any]) -> str:
    """uWSGI's ini magic variables our users put in paths (%d above all)."""
    directory = os.path.dirname(ini_path)
    name = os.path.basename(ini_path)
    magic = {
        "d": directory + os.sep,
        "p": ini_path,
        "s": name,
        "n": os.path.splitext(name)[0],
        "c": os.path.basename(directory),
        "%": "%",
    }

    def replace(match: "re.Match[str]") -> str:
        if match.group(1) is not None:
            found = opt.get(match.group(1))
            return _text(found) if found is not None else match.group(0)
        return magic.get(match.group(2), match.group(0))

    return re.sub(r"%\(([^)]*)\)|%(.)", replace, value)


def read_ini_values(
    path: str, section: str, opt: Mapping[str, Any], keys: Iterable[str] = KEYS
) -> Dict[str, List[str]]:
    """Every value of *keys* in *section* of an ini file, repeated keys included.

    uWSGI 2.0 keeps only the last value of a repeated key in ``uwsgi.opt``
    (unbit/uwsgi#1374), so the file itself is the only place to find them all.
    """
    found: Dict[str, List[str]] = {}
    current = None
    with open(path, encoding="utf-8", errors="surrogateescape") as ini:
        for line in ini:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                current = line[1:-1].strip()
                continue
            if current != section or "=" not in line:
                continue
            key, value = (part.strip() for part in line.split("=", 1))
            if key in keys:
                found.setdefault(key, []).append(_expand_magic(value, path, opt))
    return found


def collect_values(
    opt: Mapping[str, Any], cwd_candidates: List[str], keys: Iterable[str]
) -> "tuple[Dict[str, List[str]], List[str]]":
    """Every value of *keys*, from the ini file and ``uwsgi.opt``, plus a message per problem."""
    keys = tuple(keys)
    problems: List[str] = []
    values: Dict[str, List[str]] = {}
    location = _ini_location(opt, list(cwd_candidates))
    if location is not None:
        try:
            values = read_ini_values(location[0], location[1], opt, keys)
        except OSError as error:
            problems.append(
                "could not read %s for repeated keys (%s); using the last value of each"
                % (printable(location[0]), printable(str(error)))
            )
    for key in keys:
        if key in opt:
            last = _text(opt[key])
            if last not in values.get(key, []):
                values.setdefault(key, []).append(last)
    return values, problems


def read_switch(key: str, raws: Iterable[str], default: bool, problems: List[str]) -> bool:
    """A true/false key; the last good value wins, each bad one is a problem."""
    enabled = default
    for raw in raws:
        word = raw.strip().lower()
        if word in _TRUE:
            enabled = True
        elif word in _FALSE:
            enabled = False
        else:
            problems.append(
                "%s = '%s' is not true or false; using %s"
                % (key, printable(raw), "true" if enabled else "false")
            )
    return enabled


def read_options(
    opt: Mapping[str, Any], cwd_candidates: List[str] = ()  # type: ignore[assignment]
) -> "tuple[Options, List[str]]":
    """Options from ``uwsgi.opt`` (and its ini file), plus a message per problem found."""
    values, problems = collect_values(opt, list(cwd_candidates), KEYS)
    enabled = read_switch(ENABLED_KEY, values.get(ENABLED_KEY, []), True, problems)

    interval = DEFAULT_INTERVAL
    for raw in values.get(INTERVAL_KEY, []):
        try:
            seconds = float(raw)
            if math.isnan(seconds):
                raise ValueError(raw)
        except ValueError:
            problems.append(
                "%s = '%s' is not a number of seconds; using %g" % (INTERVAL_KEY, printable(raw), interval)
            )
            continue
        if seconds < MIN_INTERVAL:
            problems.append(
                "%s = '%s' is below the minimum of %g seconds; using %g"
                % (INTERVAL_KEY, printable(raw), MIN_INTERVAL, MIN_INTERVAL)
            )
            seconds = MIN_INTERVAL
        elif seconds > MAX_INTERVAL:
            problems.append(
                "%s = '%s' is above the maximum of %g seconds; using %g"
                % (INTERVAL_KEY, printable(raw), MAX_INTERVAL, MAX_INTERVAL)
            )
            seconds = MAX_INTERVAL
        interval = seconds

    def words(key: str) -> List[str]:
        return [word for raw in values.get(key, []) for word in raw.split()]

    preload = read_switch(PRELOAD_KEY, values.get(PRELOAD_KEY, []), False, problems)
    return Options(enabled, interval, words(EXTRA_KEY), words(IGNORE_KEY), preload), problems
