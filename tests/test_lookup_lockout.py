"""The lockout rule, pure: one secret against several dossiers is one attempt."""

import pytest

from lookup.lockout import DAY_S, Attempt, Failures, SecretPolicy, after_failure, attempt_many

pytestmark = pytest.mark.no_store

NOW = 1_733_000_000.0
POLICY = SecretPolicy()
LOCKED = Failures(5, NOW - 60, locked_until=NOW + 60)
TWO = Failures(2, NOW - 60)


def settle(prior: dict[str, Failures | None], right: set[str]) -> Attempt[str]:
    checked: list[str] = []

    def proves(key: str) -> bool:
        checked.append(key)
        return key in right

    attempt = attempt_many(prior, proves, NOW, POLICY)
    assert checked == [k for k, f in prior.items() if f is None or f.locked_until <= NOW]
    return attempt


def test_the_pin_of_one_dossier_counts_nothing_on_the_others() -> None:
    attempt = settle({"A": TWO, "B": None, "C": TWO}, right={"A"})
    assert attempt.proven == {"A"}
    assert attempt.changes == {"A": None}  # A cleared; B and C untouched


def test_a_secret_that_proves_several_clears_each() -> None:
    attempt = settle({"A": TWO, "B": None, "C": TWO}, right={"A", "C"})
    assert attempt.proven == {"A", "C"}
    assert attempt.changes == {"A": None, "C": None}


def test_a_wrong_secret_counts_once_on_every_dossier() -> None:
    attempt = settle({"A": TWO, "B": None}, right=set())
    assert attempt.proven == frozenset()
    assert attempt.changes == {"A": Failures(3, NOW - 60), "B": Failures(1, NOW)}


@pytest.mark.parametrize("right", [set(), {"A"}, {"B"}])
def test_a_locked_dossier_is_neither_checked_nor_changed(right: set[str]) -> None:
    attempt = settle({"A": LOCKED, "B": TWO}, right=right)
    assert "A" not in attempt.proven
    assert "A" not in attempt.changes
    assert attempt.changes == ({"B": None} if "B" in right else {"B": Failures(3, NOW - 60)})


def test_every_dossier_locked_is_no_attempt_at_all() -> None:
    assert settle({"A": LOCKED, "B": LOCKED}, right={"A", "B"}) == Attempt(frozenset(), {})


def test_the_last_failure_locks_every_dossier_it_counts_on() -> None:
    four = Failures(4, NOW - 60)
    attempt = settle({"A": four, "B": four}, right=set())
    assert all(f is not None and f.locked_until == NOW + DAY_S for f in attempt.changes.values())


def test_with_one_dossier_it_is_the_single_check_rule() -> None:
    for prior in (None, TWO, Failures(4, NOW - DAY_S), LOCKED):
        wrong = settle({"A": prior}, right=set())
        locked = prior is LOCKED
        assert wrong.changes == ({} if locked else {"A": after_failure(prior, NOW, POLICY)})
        assert settle({"A": prior}, right={"A"}).changes == ({} if locked else {"A": None})


def test_no_dossiers_no_attempt() -> None:
    assert settle({}, right=set()) == Attempt(frozenset(), {})
