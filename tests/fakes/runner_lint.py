#!/usr/bin/env python3
"""A fake `gitlab-runner lint -c FILE` for the stub-executed bootstrap: refuses
what GitLab Runner 19.3's lint refuses (commands/lint.go LintConfigFile).

- TOML the decoder cannot read, or a value whose type the field does not
  take: `FATAL: decoding config: decoding configuration file: toml: …`, exit 1
  (Config.LoadConfig wraps BurntSushi/toml v1.6.0's error; decode.go's
  badtype message, with fmtType's Go type names for the TOML value).
- Keys no field takes, the decoder's Undecoded(): `FATAL: N unknown key(s)
  found in FILE:` and one `  unknown key: a.b.c` line each, exit 1.
- Otherwise `Configuration file is valid.`, exit 0.

The keys and types come from the runner's structs (gitlab-runner-config.json,
written by scripts/gen-runner-config-schema). Not modelled: lint's jsonschema
pass, and the decoder's line numbers (its `toml: (last key …)` form without a
line is the one it prints when it has none).
"""
import datetime
import json
import re
import sys
import tomllib
from pathlib import Path

SCHEMA = json.loads((Path(__file__).parent / "gitlab-runner-config.json").read_text())["tables"]
# Go's time.ParseDuration: "300ms", "1.5h", "2h45m".
DURATION = re.compile(r"[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+|0")


class Refused(Exception):
    pass


def go_type(value):
    """fmtType of the value BurntSushi decoded from the TOML."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]any"
    if isinstance(value, dict):
        return "map[string]any"
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return "time.Time"
    return type(value).__name__


def badtype(key, dst, value):
    return Refused(
        f'toml: (last key "{key}"): incompatible types: TOML value has type {go_type(value)}; destination has type {dst}'
    )


def check(kind, value, key, table_path, undecoded):
    """Decodes `value` into a field of `kind` the way unify does."""
    if kind == "any":
        return
    if kind == "struct":
        if not isinstance(value, dict):
            raise Refused(f"toml: (last key \"{key}\"): type mismatch: expected table but found {go_type(value)}")
        return walk(table_path, value, key, undecoded)
    if isinstance(kind, list):
        outer, inner = kind
        if outer == "array":
            if not isinstance(value, list):
                raise badtype(key, "slice", value)
            for item in value:
                check(inner, item, key, table_path, undecoded)
        else:
            if not isinstance(value, dict):
                raise badtype(key, "map", value)
            for k, item in value.items():
                check(inner, item, f"{key}.{k}", table_path, undecoded)
        return
    ok = {
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "duration": isinstance(value, int) and not isinstance(value, bool),
        "datetime": isinstance(value, (datetime.datetime, datetime.date, datetime.time)),
    }[kind]
    if kind == "duration" and isinstance(value, str):
        if not DURATION.fullmatch(value):
            raise Refused(f'toml: (last key "{key}"): invalid duration: "{value}"')
        return
    if not ok:
        raise badtype(key, "integer" if kind == "duration" else kind, value)


def walk(table_path, table, key_prefix, undecoded):
    fields = SCHEMA[table_path]
    for key, value in table.items():
        full = f"{key_prefix}.{key}" if key_prefix else key
        # unifyStruct: the exact field name first, then case-insensitively.
        field = key if key in fields else next((f for f in fields if f.lower() == key.lower()), None)
        if field is None:
            undecoded.extend(every_key(full, value))
            continue
        child = f"{table_path}.{field}" if table_path else field
        check(fields[field], value, full, child, undecoded)


def every_key(key, value):
    yield key
    if isinstance(value, dict):
        for k, v in value.items():
            yield from every_key(f"{key}.{k}", v)


def lint(path):
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        raise Refused(f"config file not found: {path}")
    except tomllib.TOMLDecodeError as e:
        raise Refused(f"decoding config: decoding configuration file: toml: {e}")
    undecoded = []
    try:
        walk("", doc, "", undecoded)
    except Refused as e:
        raise Refused(f"decoding config: decoding configuration file: {e}")
    if undecoded:
        lines = "\n".join(f"  unknown key: {k}" for k in undecoded)
        raise Refused(f"{len(undecoded)} unknown key(s) found in {path}:\n{lines}")


def main():
    try:
        lint(sys.argv[1])
    except Refused as e:
        print(f"FATAL: {e}")
        sys.exit(1)
    print("Configuration file is valid.")


main()
