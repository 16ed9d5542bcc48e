"""Kubernetes quantities as plain numbers (primehub_spawner.quantities)."""
import pytest

from primehub_spawner.quantities import (format_cpu, format_memory, parse_cpu, parse_memory,
                                         parse_quantity)


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
    pytest.param("1.5Gi", 1.5 * 2**30, id="gibi-fraction"),
    pytest.param("1Ti", 2.0**40, id="tebi"),
    pytest.param(" 2G ", 2e9, id="surrounding-spaces"),
])
def test_parse_quantity(value, expected):
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
])
def test_parse_quantity_refuses(value):
    with pytest.raises(ValueError, match="quantity|negative"):
        parse_quantity(value)


@pytest.mark.parametrize("value, expected", [
    pytest.param("1G", 10**9, id="G-is-decimal"),
    pytest.param("1Gi", 2**30, id="Gi-is-binary"),
    pytest.param("8G", 8 * 10**9, id="8G"),
    pytest.param(1024, 1024, id="int-bytes"),
    pytest.param("1.5", 2, id="fraction-rounds-up"),
    pytest.param("500m", 1, id="milli-bytes-round-up"),
])
def test_parse_memory(value, expected):
    result = parse_memory(value)
    assert result == expected
    assert isinstance(result, int)


@pytest.mark.parametrize("value, expected", [
    pytest.param("500m", 0.5, id="milli"),
    pytest.param(2, 2.0, id="int"),
    pytest.param("0.25", 0.25, id="quarter"),
])
def test_parse_cpu(value, expected):
    assert parse_cpu(value) == expected


@pytest.mark.parametrize("size, expected", [
    pytest.param(4 * 10**9, "4G", id="decimal-giga"),
    pytest.param(2**30, "1Gi", id="binary-gibi"),
    pytest.param(512 * 2**20, "512Mi", id="binary-mebi"),
    pytest.param(2**40, "1Ti", id="binary-tebi"),
    pytest.param(15 * 10**8, "1.5G", id="fractional-giga"),
    pytest.param(32 * 10**9, "32G", id="32G"),
    pytest.param(2 * 10**12, "2T", id="tera"),
    pytest.param(5 * 10**6, "5M", id="mega"),
    pytest.param(3000, "3k", id="kilo"),
    pytest.param(999, "999", id="bytes"),
    pytest.param(0, "0", id="zero"),
])
def test_format_memory(size, expected):
    assert format_memory(size) == expected


@pytest.mark.parametrize("text", ["4G", "1Gi", "512Mi", "1.5G", "10G", "32G"])
def test_memory_round_trip(text):
    assert format_memory(parse_memory(text)) == text


@pytest.mark.parametrize("cores, expected", [
    pytest.param(1.0, "1", id="whole"),
    pytest.param(0.5, "0.5", id="half"),
    pytest.param(16, "16", id="int"),
])
def test_format_cpu(cores, expected):
    assert format_cpu(cores) == expected
