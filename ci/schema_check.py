"""Checks YAML files against wirecheck's JSON Schemas (schemas/*.schema.json), read as YAML
1.2 (ruamel.yaml), as editors with yaml-language-server read them.

usage: schema_check.py SCHEMA --valid FILE... [--invalid FILE...]
Every --valid file must validate; every --invalid file must not (proof the schema checks
something). Prints one line per problem; exit 1 if any.
"""
import json
import sys

import jsonschema
from ruamel.yaml import YAML


def load(path):
    yaml = YAML(typ="safe", pure=True)
    with open(path, encoding="utf-8") as f:
        return yaml.load(f)


def main(argv):
    schema = json.load(open(argv[0], encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    mode, bad, counts = None, 0, {"valid": 0, "invalid": 0}
    for arg in argv[1:]:
        if arg in ("--valid", "--invalid"):
            mode = arg[2:]
            continue
        try:
            doc = load(arg)
        except Exception as e:  # not YAML (a syntax error, a duplicate key): rejected too
            counts[mode] += 1
            if mode == "valid":
                print(f"{arg}: not YAML: {e}")
                bad += 1
            continue
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        counts[mode] += 1
        if mode == "valid" and errors:
            bad += 1
            for e in errors[:3]:
                where = "/".join(str(p) for p in e.absolute_path) or "(top)"
                print(f"{arg}: {where}: {e.message[:300]}")
        if mode == "invalid" and not errors:
            bad += 1
            print(f"{arg}: the schema accepts this file, which the loader rejects")
    print(f"{argv[0]}: {counts['valid']} valid file(s) pass, {counts['invalid']} invalid file(s) rejected, {bad} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
