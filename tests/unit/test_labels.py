"""Label-safe, reversible user and group names (DESIGN §5, primehub_spawner.labels)."""
import re

import pytest

from primehub_spawner.labels import escape_label, unescape_label

# Kubernetes' label value rule (apimachinery validation.IsValidLabelValue).
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

READABLE = [
    pytest.param("alice", "alice", id="plain"),
    pytest.param("class-101", "class-101", id="plain-with-dash"),
    pytest.param("a.b_c", "a.b_c", id="plain-dot-underscore"),
    pytest.param("0user", "0user", id="plain-leading-digit"),
    pytest.param("a" * 63, "a" * 63, id="plain-63-chars"),
    pytest.param("Alice", "escaped--41lice", id="upper-case"),
    pytest.param("RESEARCH", None, id="all-upper-case"),
    pytest.param("alice@example.com", "escaped-alice-40example-2ecom", id="email"),
    pytest.param("first.last+tag@example.org", None, id="email-plus"),
    pytest.param("José", "escaped--4aos-c3-a9", id="unicode-latin"),
    pytest.param("研究室", None, id="unicode-cjk"),
    pytest.param("🚀", None, id="emoji"),
    pytest.param("escaped-alice", "escaped-escaped-2dalice", id="looks-escaped"),
    pytest.param("escaped-", None, id="just-the-prefix"),
    pytest.param("escaped--41lice", None, id="looks-like-an-escaped-value"),
    pytest.param("a b", "escaped-a-20b", id="space"),
    pytest.param("-lead", None, id="leading-dash"),
    pytest.param("trail-", None, id="trailing-dash"),
    pytest.param("trail.", None, id="trailing-dot"),
    pytest.param("_x", None, id="leading-underscore"),
    pytest.param("a/b", None, id="slash"),
    pytest.param("x", "x", id="one-char"),
]


@pytest.mark.parametrize("name, expected", READABLE)
def test_round_trip(name, expected):
    label = escape_label(name)
    if expected is not None:
        assert label == expected
    assert LABEL_VALUE.match(label) and len(label) <= 63
    assert unescape_label(label) == name


@pytest.mark.parametrize("name", [
    pytest.param("a" * 64, id="plain-64-chars"),
    pytest.param("u" * 200, id="plain-200-chars"),
    pytest.param("User.Name@" + "x" * 190, id="escaped-200-chars"),
    pytest.param("Ü" * 30, id="unicode-too-long"),
    pytest.param("A" * 19, id="escaped-just-over"),
])
def test_too_long_is_cut_and_does_not_read_back(name):
    label = escape_label(name)
    assert len(label) <= 63
    assert LABEL_VALUE.match(label)
    assert unescape_label(label) is None


def test_long_names_with_a_common_prefix_stay_distinct():
    assert escape_label("x" * 100 + "1") != escape_label("x" * 100 + "2")


def test_escaping_is_injective_on_the_table():
    names = [p.values[0] for p in READABLE]
    assert len({escape_label(n) for n in names}) == len(names)


@pytest.mark.parametrize("value, expected", [
    pytest.param("alice", "alice", id="plain-value"),
    pytest.param("escaped-zz-g1", None, id="bad-hex"),
    pytest.param("escaped-ab-", None, id="dangling-dash"),
    pytest.param("escaped-ab-4", None, id="short-hex"),
    pytest.param("escaped--ff", None, id="not-utf8"),
    pytest.param("escaped-alice", None, id="not-a-value-we-make"),
])
def test_unescape(value, expected):
    assert unescape_label(value) == expected


@pytest.mark.parametrize("alphabet", [
    pytest.param("u", id="plain"), pytest.param("U", id="upper"), pytest.param("a@", id="email"),
])
def test_no_cut_label_reads_back_as_another_name(alphabet):
    # Regression: the hash used to follow a `-`, so its first two digits read back as an
    # escaped byte and about a third of long names unescaped to a different, valid name.
    for length in range(30, 260):
        name = (alphabet * length)[:length]
        label = escape_label(name)
        assert unescape_label(label) in (name, None), name
