"""What `primehub-spawner check` finds (primehub_spawner.check): custom resources the hub
leaves out, with the reason, and access roles that name no resource."""
from __future__ import annotations

import pytest
from builders import dataset_cr, image_cr, instance_type_cr

from primehub_spawner.check import Problem, Rejected, check, read_catalog, role_target


def objects(*objs):
    by_kind = {}
    for obj in objs:
        by_kind.setdefault(obj["kind"], []).append(obj)
    return by_kind


GOOD = objects(instance_type_cr("small"), image_cr("base"), dataset_cr("data"))


def test_read_catalog_keeps_the_good_and_says_why_for_the_rest():
    catalog, rejected = read_catalog(objects(
        instance_type_cr("small"), instance_type_cr("no-cpu", **{"limits.cpu": None}),
        image_cr("base"), image_cr("odd", type="tpu"),
        dataset_cr("data"), dataset_cr("Bad_Name")))
    assert (list(catalog.instance_types), list(catalog.images), list(catalog.datasets)) == (
        ["small"], ["base"], ["data"])
    assert rejected == (
        Rejected("Dataset", "Bad_Name", "metadata.name 'Bad_Name' is not a DNS subdomain "
                 "(lower-case letters, digits, '-' and '.'), so no API server would store it"),
        Rejected("Image", "odd", "type 'tpu' is not one of cpu, gpu, both"),
        Rejected("InstanceType", "no-cpu", "limits.cpu is required"),
    )


def test_an_object_without_a_name_or_a_parser_crash_is_still_reported(monkeypatch):
    import primehub_spawner.check as module

    _, rejected = read_catalog({"Image": ["not an object"]})
    assert rejected == (Rejected("Image", "None", "the object is not a mapping"),)

    def crash(obj):
        raise KeyError("surprise")
    monkeypatch.setitem(module.PARSERS, "Image", crash)
    _, rejected = read_catalog(objects(image_cr("base")))
    assert rejected == (Rejected("Image", "base",
                                 "unexpected KeyError while reading it: \"'surprise'\""),)


@pytest.mark.parametrize("role, prefix, target", [
    ("it:small", "", ("InstanceType", "small")),
    ("img:base", "", ("Image", "base")),
    ("ds:data", "", ("Dataset", "data")),
    ("ds:rw:data", "", ("Dataset", "data")),
    ("c1:it:small", "c1", ("InstanceType", "small")),
    ("c1:ds:rw:data", "c1", ("Dataset", "data")),
    ("it:", "", ("InstanceType", None)),
    ("ds:rw:", "", ("Dataset", None)),
    ("img:Bad_Name", "", ("Image", None)),
    ("it:small\n", "", ("InstanceType", None)),
    ("offline_access", "", None),
    ("realm-admin", "", None),
    ("c1:it:small", "", None),  # another cluster's role read without a prefix
    ("it:small", "c1", None),  # an unprefixed role when this cluster has a prefix
    ("c2:it:small", "c1", None),
])
def test_role_target(role, prefix, target):
    assert role_target(role, prefix) == target


@pytest.mark.parametrize("rejected, roles, prefix, lines", [
    pytest.param((), ["it:small", "img:base", "ds:data", "ds:rw:data", "offline_access"], "",
                 [], id="clean"),
    pytest.param((), ["it:ghost", "ds:rw:gone"], "",
                 ["role ds:rw:gone names no Dataset: there is no Dataset gone in namespace hub",
                  ("role it:ghost names no InstanceType: there is no InstanceType ghost in "
                  "namespace hub")], id="roles-naming-nothing"),
    pytest.param((), ["img:Bad_Name", "it:"], "",
                 [("role 'img:Bad_Name' cannot name any Image: the name after the kind must be "
                  "lower-case letters, digits, '-' and '.'"),
                  ("role 'it:' cannot name any InstanceType: the name after the kind must be "
                  "lower-case letters, digits, '-' and '.'")], id="roles-naming-no-resource-can"),
    pytest.param((Rejected("InstanceType", "broken", "limits.cpu is required"),),
                 ["it:broken", "it:small"], "",
                 ["InstanceType broken is left out of every menu: limits.cpu is required"],
                 id="rejected-resource-once"),
    pytest.param((), ["c1:it:ghost", "it:ghost", "c1:img:base"], "c1",
                 [("role c1:it:ghost names no InstanceType: there is no InstanceType ghost in "
                  "namespace hub")], id="prefix"),
])
def test_check(rejected, roles, prefix, lines):
    catalog, _ = read_catalog(GOOD)
    problems = check(catalog, rejected, roles, prefix, namespace="hub")
    assert [p.line for p in problems] == lines


def test_check_groups_resources_before_roles():
    catalog, rejected = read_catalog(objects(instance_type_cr("small"), image_cr("x", type="?")))
    problems = check(catalog, rejected, ["it:ghost"])
    assert problems == (
        Problem("resource", "Image x is left out of every menu: type '?' is not one of cpu, "
                            "gpu, both"),
        Problem("role", "role it:ghost names no InstanceType: there is no InstanceType ghost"))
