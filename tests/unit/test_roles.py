"""Realm roles -> grants (DESIGN §2.1, primehub_spawner.roles)."""
import pytest

from primehub_spawner.roles import Grants, grants_of, parse_roles


def grants(it=(), img=(), ds=(), rw=()):
    return Grants(frozenset(it), frozenset(img), frozenset(ds) | frozenset(rw), frozenset(rw))


@pytest.mark.parametrize("roles, prefix, expected", [
    pytest.param([], "", grants(), id="no-roles"),
    pytest.param(["it:cpu-1"], "", grants(it=["cpu-1"]), id="instance-type"),
    pytest.param(["img:pytorch"], "", grants(img=["pytorch"]), id="image"),
    pytest.param(["ds:team"], "", grants(ds=["team"]), id="dataset-read-only"),
    pytest.param(["ds:rw:team"], "", grants(rw=["team"]), id="dataset-rw-implies-granted"),
    pytest.param(["ds:team", "ds:rw:team"], "", grants(rw=["team"]), id="ro-and-rw-is-rw"),
    pytest.param(["it:a", "it:b", "img:c", "ds:d", "ds:rw:e"], "",
                 grants(it=["a", "b"], img=["c"], ds=["d"], rw=["e"]), id="mixed"),
    pytest.param(["it:a", "it:a"], "", grants(it=["a"]), id="duplicates"),
    pytest.param(["offline_access", "uma_authorization", "default-roles-primehub", "admin"], "",
                 grants(), id="unrelated-roles"),
    pytest.param(["xx:a", "itx:a", "IT:a", "image:a", "dataset:a"], "", grants(),
                 id="unknown-kinds"),
    pytest.param(["it:", "img:", "ds:", "ds:rw:"], "", grants(), id="empty-names"),
    pytest.param(["it", "img", "ds"], "", grants(), id="kind-without-colon"),
    pytest.param(["c1:it:a", "c1:img:b", "c1:ds:c", "c1:ds:rw:d"], "", grants(),
                 id="no-prefix-ignores-prefixed"),
    pytest.param(["c1:it:a", "c1:img:b", "c1:ds:c", "c1:ds:rw:d"], "c1",
                 grants(it=["a"], img=["b"], ds=["c"], rw=["d"]), id="prefix-counts-prefixed"),
    pytest.param(["it:a", "img:b", "ds:c", "ds:rw:d"], "c1", grants(),
                 id="prefix-ignores-unprefixed"),
    pytest.param(["c2:it:a", "c2:ds:rw:d"], "c1", grants(), id="prefix-ignores-other-prefix"),
    pytest.param(["c1:it:a", "it:b", "c2:it:c"], "c1", grants(it=["a"]), id="prefix-mixed"),
    pytest.param(["c1it:a", "c1:", "c1:it:"], "c1", grants(), id="prefix-malformed"),
    pytest.param(["c10:it:a"], "c1", grants(), id="prefix-is-whole-segment"),
    pytest.param(["it:a\n", "img:b\n", "ds:c\n", "ds:rw:d\n"], "", grants(),
                 id="trailing-newline-names-nothing"),
    pytest.param(["it:A", "img:b c", "ds:rw:" + "d" * 254, "ds:é"], "", grants(),
                 id="not-resource-names"),
    pytest.param(["it:gpu.large", "ds:rw:team-data"], "",
                 grants(it=["gpu.large"], rw=["team-data"]), id="dots-and-dashes"),
])
def test_parse_roles(roles, prefix, expected):
    assert parse_roles(roles, prefix) == expected


def test_rw_is_a_subset_of_granted():
    result = parse_roles(["ds:rw:a", "ds:b"])
    assert result.writable_datasets <= result.datasets
    assert result.writable_datasets == {"a"}


def test_grants_union():
    assert grants(it=["a"], rw=["x"]) | grants(img=["b"], ds=["y"]) == grants(
        it=["a"], img=["b"], ds=["y"], rw=["x"])


def test_parse_roles_accepts_any_iterable():
    assert parse_roles(iter(["it:a"])) == grants(it=["a"])


def test_a_roles_tuple_is_parsed_once_per_prefix():
    grants_of.cache_clear()
    roles = ("it:a", "ds:rw:b")
    assert grants_of(roles) == parse_roles(roles)
    assert grants_of(tuple(roles)) is grants_of(roles)  # equal tuples share the entry
    assert grants_of(roles, "c1") == Grants()
    assert grants_of.cache_info().misses == 2
