"""The configuration's schema errors as one line per key, for the start of a run (Snakemake's own
message prints the whole schema, hundreds of lines, before the key's place)."""

from __future__ import annotations

import json

from jsonschema import Draft202012Validator


def schema_errors(config: dict, schema_path: str) -> list[str]:
    """``key.path: problem`` for each place ``config`` breaks the JSON schema, in key order."""
    with open(schema_path, encoding="utf-8") as fh:
        validator = Draft202012Validator(json.load(fh))
    lines = []
    for err in sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path]):
        where = ".".join(str(p) for p in err.absolute_path)
        if err.validator == "additionalProperties":
            known = sorted(err.schema.get("properties", {}))
            extra = sorted(set(err.instance) - set(known))
            lines += [f"{where + '.' if where else ''}{key}: unknown key (known here: {', '.join(known)})" for key in extra]
        elif err.validator in ("anyOf", "oneOf") and err.context:  # say what each choice wanted
            lines.append(f"{where}: {err.instance!r} is none of the choices: "
                         + "; ".join(sorted({c.message for c in err.context})))
        else:
            lines.append(f"{where or '(top level)'}: {err.message}")
        if isinstance(err.instance, str) and err.validator == "type" and _number(err.instance):
            lines[-1] += " (snakemake --config gives nested keys as text: set them in a YAML file, --configfile)"
    return lines


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
