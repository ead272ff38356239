"""The configuration's schema errors as one line per key, for the start of a run (Snakemake's own
message prints the whole schema, hundreds of lines, before the key's place), and whole numbers
written as decimals (``epochs: 5.0``) made integers."""

from __future__ import annotations

import difflib
import json

from jsonschema import Draft202012Validator


def load_schema(schema_path: str) -> dict:
    with open(schema_path, encoding="utf-8") as fh:
        return json.load(fh)


def schema_errors(config: dict, schema: str | dict) -> list[str]:
    """``key.path: problem`` for each place ``config`` breaks the JSON schema (a path or the schema
    itself), in key order."""
    validator = Draft202012Validator(load_schema(schema) if isinstance(schema, str) else schema)
    lines = []
    for err in sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path]):
        where = ".".join(str(p) for p in err.absolute_path)
        if err.validator == "additionalProperties":
            known = sorted(err.schema.get("properties", {}))
            extra = sorted(set(err.instance) - set(known))
            lines += [f"{where + '.' if where else ''}{key}: unknown key ({_did_you_mean(key, known)}known here: "
                      f"{', '.join(known)})" for key in extra]
        elif err.validator in ("anyOf", "oneOf") and err.context:  # say what each choice wanted
            lines.append(f"{where}: {err.instance!r} is none of the choices: "
                         + "; ".join(sorted({c.message for c in err.context})))
        elif err.instance is None:  # `epochs:` with nothing after it
            lines.append(f"{where or '(top level)'}: is empty; give it a value or delete the line for its default")
        else:
            lines.append(f"{where or '(top level)'}: {err.message}")
        if isinstance(err.instance, str) and err.validator == "type" and _number(err.instance):
            lines[-1] += " (snakemake --config gives nested keys as text: set them in a YAML file, --configfile)"
    return lines


def whole_numbers(value, schema: dict):
    """``value`` with every float the schema wants as an integer made one: JSON Schema accepts 5.0
    as an integer, Python's range() does not. Dicts are changed in place and returned."""
    if isinstance(value, float) and value.is_integer() and _wants_integer(schema):
        return int(value)
    if isinstance(value, dict):
        properties, rest = schema.get("properties", {}), schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key, rest if isinstance(rest, dict) else None)
            if sub is not None:
                value[key] = whole_numbers(item, sub)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        value[:] = [whole_numbers(item, schema["items"]) for item in value]
    return value


def _wants_integer(schema: dict) -> bool:
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if "number" in types:
        return False
    return "integer" in types or any(_wants_integer(s) for s in schema.get("anyOf", []) + schema.get("oneOf", []))


def _did_you_mean(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f"did you mean {close[0]}? " if close else ""


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
