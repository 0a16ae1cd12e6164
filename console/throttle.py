"""Counting limits for clients and accounts. Pure: the caller passes `now` (monotonic s)."""

from __future__ import annotations


class RateLimiter:
    """At most `limit` events per client in any `window_s`; bounded memory."""

    def __init__(self, limit: int, window_s: float, max_clients: int) -> None:
        self.limit, self.window_s, self.max_clients = limit, window_s, max_clients
        self._seen: dict[str, list[float]] = {}
        self.refused = 0  # since start (the metrics read it)

    def allow(self, client: str, now: float) -> bool:
        # pop + re-insert keeps the dict ordered by last use: the first key is the stalest.
        recent = [t for t in self._seen.pop(client, ()) if now - t < self.window_s]
        allowed = len(recent) < self.limit
        if allowed:
            recent.append(now)
        else:
            self.refused += 1
        self._seen[client] = recent
        if len(self._seen) > self.max_clients:
            del self._seen[next(iter(self._seen))]
        return allowed


class FailureCounter:
    """Failures per key in a sliding window; `blocked` once `limit` of them are recent.

    Only failures count, so a user who signs in right is never held back by the
    successes of others; a success clears the key's failures.
    """

    def __init__(self, limit: int, window_s: float, max_keys: int = 10_000) -> None:
        self.limit, self.window_s, self.max_keys = limit, window_s, max_keys
        self._failures: dict[str, list[float]] = {}

    def blocked(self, key: str, now: float) -> bool:
        return len(self._recent(key, now)) >= self.limit

    def retry_after_s(self, key: str, now: float) -> float:
        """How long until the key may try again (0 when it may now)."""
        recent = self._recent(key, now)
        if len(recent) < self.limit:
            return 0.0
        return max(0.0, recent[-self.limit] + self.window_s - now)

    def fail(self, key: str, now: float) -> None:
        recent = self._recent(key, now)
        recent.append(now)
        self._failures.pop(key, None)
        self._failures[key] = recent
        if len(self._failures) > self.max_keys:
            del self._failures[next(iter(self._failures))]

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> list[float]:
        recent = [t for t in self._failures.get(key, ()) if now - t < self.window_s]
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)
        return recent


class LoginThrottle:
    """Sign-in attempts held back per account name and per client address.

    Per account: a password guesser spread over many addresses still stops after
    `per_user` failures. Per address: one machine trying many names stops after
    `per_client`. Both windows slide; in-memory (a restart forgets, which only
    gives a guesser one more window).
    """

    def __init__(self, per_user: int = 5, per_client: int = 20, window_s: float = 15 * 60) -> None:
        self.users = FailureCounter(per_user, window_s)
        self.clients = FailureCounter(per_client, window_s)
        self.held_back = 0  # attempts refused while throttled (the metrics read it)

    def retry_after_s(self, user: str, client: str, now: float) -> float:
        """0 when this attempt may go ahead, else seconds to wait."""
        return max(
            self.users.retry_after_s(user.casefold(), now),
            self.clients.retry_after_s(client, now),
        )

    def failed(self, user: str, client: str, now: float) -> None:
        self.users.fail(user.casefold(), now)
        self.clients.fail(client, now)

    def succeeded(self, user: str) -> None:
        self.users.clear(user.casefold())
