"""Helpers for ts-smart tests: real smartctl --json outputs.

They are in tests/fixtures/smart; its README.md and PROVENANCE.tsv say where each comes from.
"""

import copy
import json
import os

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "fixtures", "smart")


def fixture_text(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


def fixture_json(name):
    """A fresh copy of fixture NAME's JSON, free to be modified by a test."""
    return copy.deepcopy(json.loads(fixture_text(name)))


def attribute(document, attribute_id):
    """The ATA attribute table entry `attribute_id` of a smartctl JSON document."""
    return next(a for a in document["ata_smart_attributes"]["table"] if a["id"] == attribute_id)


def set_raw(document, attribute_id, value):
    entry = attribute(document, attribute_id)
    entry["raw"] = {"value": value, "string": str(value)}
    return document
