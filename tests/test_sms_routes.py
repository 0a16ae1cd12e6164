"""Routing SMS by the recipient's mobile network (sms/routes.py), as tables."""

from __future__ import annotations

import pytest

from sms.routes import OTHER, RouteBind, RouteFilter, Routes, network_of

pytestmark = pytest.mark.no_store


@pytest.mark.parametrize(
    ("number", "network"),
    [
        # Current 10-digit numbers, in every spelling the gateway meets.
        ("84961234567", "viettel"),
        ("+84861234567", "viettel"),
        ("0321234567", "viettel"),
        ("0391234567", "viettel"),
        ("84912345678", "vinaphone"),
        ("0881234567", "vinaphone"),
        ("0811234567", "vinaphone"),
        ("84901234567", "mobifone"),
        ("0701234567", "mobifone"),
        ("0891234567", "mobifone"),
        ("0921234567", "vietnamobile"),
        ("0521234567", "vietnamobile"),
        ("0561234567", "vietnamobile"),
        ("0991234567", "gmobile"),
        ("0591234567", "gmobile"),
        ("0871234567", "itelecom"),
        ("0551234567", "reddi"),
        # 2018's converted prefixes: the old 11-digit number routes as the new one.
        ("01621234567", "viettel"),
        ("841691234567", "viettel"),
        ("01201234567", "mobifone"),
        ("01281234567", "mobifone"),
        ("01231234567", "vinaphone"),
        ("01291234567", "vinaphone"),
        ("01861234567", "vietnamobile"),
        ("01991234567", "gmobile"),
        # Not a mobile of a known network: the default route.
        ("842438251234", OTHER),  # a Hanoi landline
        ("0951234567", OTHER),  # S-Fone, closed in 2012
        ("01111234567", OTHER),  # never a mobile prefix
        ("14155550123", OTHER),  # a foreign number
        ("8088", OTHER),  # a short code
        ("Viettel", OTHER),  # an alphanumeric sender
        ("", OTHER),
    ],
)
def test_network_of_a_number(number: str, network: str) -> None:
    assert network_of(number) == network


BINDS = [
    RouteBind("viettel", frozenset({"viettel"})),
    RouteBind("vnpt", frozenset({"vinaphone", "itelecom"}), default=True),
    RouteBind("mobifone", frozenset({"mobifone"})),
]


def up(*names: str):  # type: ignore[no-untyped-def]
    return lambda name: name in names


@pytest.mark.parametrize(
    ("available", "number", "bind"),
    [
        # Everyone up: each network to its own operator, the rest to the default.
        (up("viettel", "vnpt", "mobifone"), "84961234567", "viettel"),
        (up("viettel", "vnpt", "mobifone"), "84912345678", "vnpt"),
        (up("viettel", "vnpt", "mobifone"), "84871234567", "vnpt"),
        (up("viettel", "vnpt", "mobifone"), "84901234567", "mobifone"),
        (up("viettel", "vnpt", "mobifone"), "84921234567", "vnpt"),  # default
        (up("viettel", "vnpt", "mobifone"), "842438251234", "vnpt"),  # default
        # Viettel's bind down: its numbers fail over to the default.
        (up("vnpt", "mobifone"), "84961234567", "vnpt"),
        # The default down too: the next bind in order.
        (up("mobifone"), "84961234567", "mobifone"),
        (up("mobifone"), "84921234567", "mobifone"),
        # The default down: other networks' numbers go to the first bind up.
        (up("viettel", "mobifone"), "84921234567", "viettel"),
        (up("viettel", "mobifone"), "84912345678", "viettel"),
        # Nobody up: the preferred bind keeps them (they wait in the outbox).
        (up(), "84901234567", "mobifone"),
        (up(), "84921234567", "vnpt"),
    ],
)
def test_bind_for_a_number(available, number: str, bind: str) -> None:  # type: ignore[no-untyped-def]
    assert Routes(BINDS).bind_for(number, available) == bind


def test_no_default_named_means_the_bind_naming_no_network() -> None:
    routes = Routes([RouteBind("a", frozenset({"viettel"})), RouteBind("b", frozenset())])
    assert routes.bind_for("84921234567") == "b"
    assert routes.bind_for("84961234567") == "a"
    assert routes.preference("viettel") == ("a", "b")
    assert routes.preference(OTHER) == ("b", "a")


def test_no_default_and_every_bind_named_means_the_first_bind() -> None:
    routes = Routes(
        [RouteBind("a", frozenset({"viettel"})), RouteBind("b", frozenset({"gmobile"}))]
    )
    assert routes.bind_for("84921234567") == "a"
    assert routes.preference(OTHER) == ("a", "b")


NUMBERS = [
    "84961234567", "841621234567", "84912345678", "84871234567", "84901234567",
    "84921234567", "842438251234", "8088", "14155550123",
]  # fmt: skip


@pytest.mark.parametrize(
    "available",
    [up("viettel", "vnpt", "mobifone"), up("vnpt"), up("viettel", "mobifone"), up()],
)
def test_every_number_is_claimed_by_exactly_one_bind(available) -> None:  # type: ignore[no-untyped-def]
    """The filters the links claim with partition the outbox: no part goes to two binds,
    none is left to nobody."""
    routes = Routes(BINDS)
    filters = {b.name: routes.filter_for(b.name, available) for b in BINDS}
    for number in NUMBERS:
        takers = [name for name, f in filters.items() if f.matches(number)]
        assert takers == [routes.bind_for(number, available)], number


def test_filter_as_sql() -> None:
    assert RouteFilter().sql("m.msisdn") == ("", [])
    assert RouteFilter(include=()).sql("m.msisdn") == (" AND 1 = 0", [])
    clause, params = RouteFilter(include=("8496", "8497"), exclude=("84970",)).sql("m.msisdn")
    assert clause == (" AND (m.msisdn LIKE ? OR m.msisdn LIKE ?) AND NOT (m.msisdn LIKE ?)")
    assert params == ["8496%", "8497%", "84970%"]


@pytest.mark.parametrize(
    ("binds", "error"),
    [
        ([], "no SMPP bind"),
        ([RouteBind("a", frozenset()), RouteBind("a", frozenset())], "repeat"),
        ([RouteBind("a", frozenset({"viettell"}))], "unknown networks"),
    ],
)
def test_bad_routes_are_refused(binds: list[RouteBind], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Routes(binds)
