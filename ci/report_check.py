"""Checks `wirecheck run --junit` files against schemas/junit.xsd (xmlschema), and proves
the schema has teeth: each file, broken in a way a CI dashboard would choke on (a testcase
without its name, two outcomes in one testcase, a count that is not a number), must be
rejected.

usage: report_check.py XSD FILE...
Prints one line per problem; exit 1 if any.
"""
import copy
import sys
import xml.etree.ElementTree as ET

import xmlschema


def breakages(tree):
    """Broken copies of a valid report: (what, tree)."""
    root = tree.getroot()
    case = root.find("./testsuite/testcase")
    if case is not None:
        t = copy.deepcopy(tree)
        del t.getroot().find("./testsuite/testcase").attrib["name"]
        yield "a testcase without a name", t
        t = copy.deepcopy(tree)
        c = t.getroot().find("./testsuite/testcase")
        ET.SubElement(c, "failure", {"type": "FAILED", "message": "one"})
        ET.SubElement(c, "error", {"type": "ERROR", "message": "two"})
        yield "a testcase with two outcomes", t
    suite = root.find("./testsuite")
    if suite is not None:
        t = copy.deepcopy(tree)
        t.getroot().find("./testsuite").attrib["failures"] = "some"
        yield "a testsuite whose failures count is not a number", t


def main(argv):
    schema = xmlschema.XMLSchema(argv[0])
    bad = 0
    outcomes = {}
    for path in argv[1:]:
        tree = ET.parse(path)
        errors = list(schema.iter_errors(tree))
        for e in errors[:3]:
            print(f"{path}: {e.reason} at {e.path}")
        bad += bool(errors)
        for el in tree.getroot().iter():
            if el.tag in ("failure", "error", "skipped"):
                outcomes[el.tag] = outcomes.get(el.tag, 0) + 1
        for what, broken in breakages(tree):
            if schema.is_valid(broken):
                print(f"{path}: the schema accepts {what}")
                bad += 1
    print(f"{argv[0]}: {len(argv) - 1} report file(s) checked (outcomes seen: {dict(sorted(outcomes.items()))}), {bad} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
