"""User and group label values in PrimeHub's encoding (DESIGN §5, primehub_spawner.labels).

PrimeHub's hub wrote `"escaped-" + escapism.escape(name, safe=[a-z0-9], escape_char="-")
.lower()` and its tools read a value back with `escapism.unescape(value[8:], "-")`; both
rules are written out here from PrimeHub's description, not taken from our module.
"""
import pytest
from builders import primehub_reads

from primehub_spawner.labels import escape_label, project_label
from primehub_spawner.names import is_label_value

ENCODED = [
    pytest.param("alice", "escaped-alice", id="plain"),
    pytest.param("class-101", "escaped-class-2d101", id="dash-escaped"),
    pytest.param("a.b_c", "escaped-a-2eb-5fc", id="dot-underscore"),
    pytest.param("0user", "escaped-0user", id="leading-digit"),
    pytest.param("alice.smith@example.com", "escaped-alice-2esmith-40example-2ecom",
                 id="email"),
    pytest.param("Research_Lab", "escaped--52esearch-5f-4cab", id="upper-case-hex-lowered"),
    pytest.param("josé", "escaped-jos-c3-a9", id="unicode-latin"),
    pytest.param("研究", "escaped--e7-a0-94-e7-a9-b6", id="unicode-cjk"),
    pytest.param("escaped-alice", "escaped-escaped-2dalice", id="looks-escaped"),
    pytest.param("a b", "escaped-a-20b", id="space"),
    pytest.param("a" * 55, "escaped-" + "a" * 55, id="longest-uncut"),
]


@pytest.mark.parametrize("name, expected", ENCODED)
def test_primehub_encoding(name, expected):
    value = escape_label(name)
    assert value == expected
    assert is_label_value(value)
    assert primehub_reads(value) == name


@pytest.mark.parametrize("name", [
    pytest.param("a" * 56, id="one-over"),
    pytest.param("u" * 200, id="plain-200-chars"),
    pytest.param("User.Name@" + "x" * 190, id="escaped-200-chars"),
    pytest.param("Ü" * 30, id="unicode-too-long"),
    pytest.param("A" * 19, id="escaping-makes-it-too-long"),
    pytest.param("", id="empty"),
])
def test_a_value_that_cannot_fit_is_cut_valid_and_hashed(name):
    value = escape_label(name)
    assert is_label_value(value) and len(value) <= 63
    assert value.startswith("escaped")
    # Escaping never writes `.`: a cut value cannot read back as another name's value.
    assert "." in value


def test_long_names_with_a_common_prefix_stay_distinct():
    assert escape_label("x" * 100 + "1") != escape_label("x" * 100 + "2")


def test_encoding_is_injective_on_the_table():
    names = [p.values[0] for p in ENCODED]
    assert len({escape_label(n) for n in names}) == len(names)


@pytest.mark.parametrize("group, expected", [
    pytest.param("research", "research", id="as-primehub-writes-it"),
    pytest.param("Research_Lab", "Research_Lab", id="any-label-value-kept"),
    pytest.param("class-101", "class-101", id="dash"),
    pytest.param("Research Lab", "escaped--52esearch-20-4cab", id="space-encoded"),
    pytest.param("研究", "escaped--e7-a0-94-e7-a9-b6", id="unicode-encoded"),
    pytest.param("-lead", "escaped--2dlead", id="leading-dash-encoded"),
    pytest.param("g" * 64, None, id="too-long-cut"),
])
def test_project_label(group, expected):
    value = project_label(group)
    assert is_label_value(value)
    if expected is not None:
        assert value == expected
    else:
        assert value == escape_label(group)
