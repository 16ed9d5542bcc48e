"""Quantities as plain numbers (primehub_spawner.quantities): PrimeHub's and Kubernetes' readings."""
import pytest

from primehub_spawner.quantities import (
    format_cpu,
    format_memory,
    format_size,
    parse_cpu,
    parse_kube_memory,
    parse_memory,
    parse_quantity,
    parse_size_attribute,
)

GI = 2**30


@pytest.mark.parametrize("value, expected", [
    pytest.param(1, 1.0, id="int"),
    pytest.param(1.5, 1.5, id="float"),
    pytest.param(0, 0.0, id="zero"),
    pytest.param("2", 2.0, id="plain-string"),
    pytest.param("1.5", 1.5, id="decimal-string"),
    pytest.param(".5", 0.5, id="leading-dot"),
    pytest.param("500m", 0.5, id="milli"),
    pytest.param("1k", 1e3, id="kilo"),
    pytest.param("2M", 2e6, id="mega"),
    pytest.param("2G", 2e9, id="giga-decimal"),
    pytest.param("1T", 1e12, id="tera"),
    pytest.param("1Ki", 1024.0, id="kibi"),
    pytest.param("512Mi", 512 * 2**20, id="mebi"),
    pytest.param("1.5Gi", 1.5 * GI, id="gibi-fraction"),
    pytest.param("1Ti", 2.0**40, id="tebi"),
    pytest.param(" 2G ", 2e9, id="surrounding-spaces"),
])
def test_parse_quantity_reads_like_kubernetes(value, expected):
    assert parse_quantity(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", [
    pytest.param("", id="empty"),
    pytest.param("abc", id="words"),
    pytest.param("2GB", id="unit-GB"),
    pytest.param("2 gigs", id="unit-words"),
    pytest.param("-1", id="negative-string"),
    pytest.param(-1, id="negative-number"),
    pytest.param(True, id="bool"),
    pytest.param(None, id="none"),
    pytest.param([1], id="list"),
    pytest.param("1.2.3", id="two-dots"),
    pytest.param("9" * 400, id="400-digits"),
    pytest.param("9" * 25 + "E", id="beyond-int64"),
    pytest.param(float("inf"), id="infinity"),
    pytest.param(float("nan"), id="nan"),
    pytest.param(10**40, id="huge-int"),
    pytest.param("²", id="superscript-digit"),
    pytest.param("١٢", id="arabic-indic-digits"),
    pytest.param("2G\n", id="trailing-newline"),
    pytest.param("\u20032G", id="unicode-space"),
    pytest.param("1e3", id="exponent"),
])
def test_parse_quantity_refuses_with_a_sentence(value):
    with pytest.raises(ValueError, match="quantity|negative|finite"):
        parse_quantity(value)
    with pytest.raises(ValueError, match="quantity|negative|finite"):
        parse_memory(value)


def test_a_refusal_does_not_echo_a_long_value_whole():
    with pytest.raises(ValueError) as refused:
        parse_memory("9" * 400 + "x")
    assert len(str(refused.value)) < 120


@pytest.mark.parametrize("value, expected", [
    pytest.param("1G", GI, id="G-is-binary"),
    pytest.param("2G", 2 * GI, id="2G"),
    pytest.param("1Gi", GI, id="Gi-is-binary"),
    pytest.param("26G", 26 * GI, id="26G"),
    pytest.param("512M", 512 * 2**20, id="M-is-binary"),
    pytest.param("1K", 1024, id="K-is-binary"),
    pytest.param("1k", 1000, id="k-stays-decimal"),
    pytest.param("1T", 2**40, id="T-is-binary"),
    pytest.param("1.5G", 3 * GI // 2, id="fraction"),
    pytest.param(1024, 1024, id="int-bytes"),
    pytest.param("1.5", 2, id="fraction-rounds-up"),
    pytest.param("500m", 1, id="milli-bytes-round-up"),
])
def test_parse_memory_reads_like_primehub(value, expected):
    result = parse_memory(value)
    assert result == expected
    assert isinstance(result, int)


@pytest.mark.parametrize("value, expected", [
    pytest.param("2G", 2 * 10**9, id="G-is-decimal"),
    pytest.param("2Gi", 2 * GI, id="Gi-is-binary"),
    pytest.param("2147483648", 2 * GI, id="bytes"),
])
def test_parse_kube_memory_reads_like_the_api_server(value, expected):
    assert parse_kube_memory(value) == expected


@pytest.mark.parametrize("value, expected", [
    pytest.param("50", 50 * GI, id="bare-number-is-GiB"),
    pytest.param("50G", 50 * GI, id="G"),
    pytest.param("50Gi", 50 * GI, id="Gi"),
    pytest.param("1.5", 3 * GI // 2, id="bare-fraction"),
    pytest.param(20, 20 * GI, id="int-is-GiB"),
    pytest.param("512M", 512 * 2**20, id="M"),
])
def test_parse_size_attribute(value, expected):
    assert parse_size_attribute(value) == expected


@pytest.mark.parametrize("value", ["20GB", "", "lots", "9" * 29, "-5"])
def test_parse_size_attribute_refuses(value):
    with pytest.raises(ValueError):
        parse_size_attribute(value)


@pytest.mark.parametrize("value, expected", [
    pytest.param("500m", 0.5, id="milli"),
    pytest.param(2, 2.0, id="int"),
    pytest.param("0.25", 0.25, id="quarter"),
])
def test_parse_cpu(value, expected):
    assert parse_cpu(value) == expected


@pytest.mark.parametrize("size, expected", [
    pytest.param(GI, "1Gi", id="gibi"),
    pytest.param(512 * 2**20, "512Mi", id="mebi"),
    pytest.param(2**40, "1Ti", id="tebi"),
    pytest.param(3 * GI // 2, "1.5Gi", id="fractional"),
    pytest.param(4 * 10**9, "3.725Gi", id="decimal-bytes-shown-binary"),
    pytest.param(999, "999", id="bytes"),
    pytest.param(0, "0", id="zero"),
])
def test_format_memory(size, expected):
    assert format_memory(size) == expected


@pytest.mark.parametrize("size, expected", [
    pytest.param(50 * GI, "50Gi", id="whole-Gi"),
    pytest.param(512 * 2**20, "512Mi", id="whole-Mi"),
    pytest.param(3 * GI // 2, "1536Mi", id="fraction-of-Gi"),
    pytest.param(1000, "1000", id="bytes"),
])
def test_format_size_is_exact(size, expected):
    assert format_size(size) == expected
    assert parse_kube_memory(expected) == size


@pytest.mark.parametrize("cores, expected", [
    pytest.param(1.0, "1", id="whole"),
    pytest.param(0.5, "0.5", id="half"),
    pytest.param(16, "16", id="int"),
])
def test_format_cpu(cores, expected):
    assert format_cpu(cores) == expected
