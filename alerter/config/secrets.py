"""Secrets in the config: each is given as `KEY` or as `KEY_file`, a file read at load (DESIGN:
"every secret also has a `*_file` form"), so a missing or unreadable file is a config error with
its line rather than a failed notification or scrape at 3 a.m.

HTTP `headers` (an `Authorization` among them) have theirs in `headers_file`: one `Name: value`
a line, as curl's `-H @FILE` reads them (blank lines and lines starting with `#` skipped); a name
given in both is an error, so neither silently wins."""

from __future__ import annotations

import re
from pathlib import Path

from alerter.core.yamlload import decode_source
from alerter.core.yamlsource import MapReader, SourceError

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # a header name (RFC 9110 5.1, token)


def secret(r: MapReader, key: str, base_dir: Path, *, required: bool) -> str | None:
    """`key` or `key_file` (exactly one); a file's content is read now and stripped."""
    value: str | None = r.str(key)
    path: str | None = r.str(f"{key}_file")
    if value is not None and path is not None:
        r.problems.add(
            r.raw(f"{key}_file") or r.node, f"{key}_file: give either {key} or {key}_file, not both"
        )
        return None
    if path is not None:
        value = _read(r, f"{key}_file", path, base_dir)
        if value is None:
            return None
    if value is None and required and r.ok:
        r.problems.add(r.node, f"{r.what}: missing required key {key!r} (or {key}_file)")
    return value


def headers(r: MapReader, base_dir: Path) -> dict[str, str]:
    """`headers` (a mapping) with those of `headers_file`."""
    out: dict[str, str] = r.str_map("headers", {})
    path = r.str("headers_file")
    if path is None:
        return out
    text = _read(r, "headers_file", path, base_dir)
    if text is None:
        return out
    where = r.raw("headers_file") or r.node
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not _TOKEN.fullmatch(name):
            r.problems.add(where, f"headers_file: {path}:{number}: expected 'Name: value'")
        elif name.lower() in {k.lower() for k in out}:
            r.problems.add(where, f"headers_file: {path}:{number}: {name} is in headers too")
        else:
            out[name] = value.strip()
    return out


def _read(r: MapReader, key: str, path: str, base_dir: Path) -> str | None:
    full = Path(path) if Path(path).is_absolute() else base_dir / path
    where = r.raw(key) or r.node
    try:
        value = decode_source(full.read_bytes(), str(full)).strip()
    except SourceError as e:
        r.problems.add(where, f"{key}: {e}")
        return None
    except OSError as e:
        r.problems.add(
            where, f"{key}: cannot read {full}: {e.strerror} (check the path and permissions)"
        )
        return None
    if not value:
        r.problems.add(where, f"{key}: {full} is empty")
        return None
    return value
