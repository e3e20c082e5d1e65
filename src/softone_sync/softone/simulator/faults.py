"""Fault injection: rules that make chosen calls slow, fail, hang, or lose their answer.

A rule matches calls by service name (case-insensitive; ``None`` = every service), lets the first
``skip`` matching calls through, then fires on each later match with ``probability`` (drawn from a
seeded RNG, so runs are repeatable) until it has fired ``times`` times (``None`` = forever).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class FaultKind(StrEnum):
    LATENCY = "latency"  # answer after `seconds`
    HTTP_500 = "http_500"  # answer HTTP 500 without running the call
    TIMEOUT = "timeout"  # hang for `seconds` (longer than the client's timeout), then answer
    TRUNCATE = "truncate"  # run the call, send only half of the JSON body
    DROP = "drop"  # close the connection without an answer, without running the call
    EXPIRE_SESSION = "expire_session"  # the call's session expires first: it answers -101
    EXPIRE_REQID = "expire_reqid"  # reqIDs expire first: getBrowserData answers errorcode 13
    COMMIT_THEN_500 = "commit_then_500"  # run the call (a setData commits), then answer HTTP 500
    COMMIT_THEN_DROP = "commit_then_drop"  # run the call, then close the connection mid-answer


DEFAULT_SECONDS = {FaultKind.LATENCY: 1.0, FaultKind.TIMEOUT: 60.0}


@dataclass
class FaultRule:
    kind: FaultKind
    service: str | None = None
    times: int | None = 1
    probability: float = 1.0
    skip: int = 0
    seconds: float = 0.0
    id: int = 0
    matched: int = 0  # matching calls seen
    fired: int = 0

    def __post_init__(self) -> None:
        self.kind = FaultKind(self.kind)
        if self.times is not None and self.times < 0:
            raise ValueError("times must be >= 0 or None (unlimited)")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if self.skip < 0:
            raise ValueError("skip must be >= 0")
        if self.seconds < 0:
            raise ValueError("seconds must be >= 0")
        if not self.seconds:
            self.seconds = DEFAULT_SECONDS.get(self.kind, 0.0)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "kind": self.kind.value}


_RULE_FIELDS = ("kind", "service", "times", "probability", "skip", "seconds")


def rule_from_json(data: Mapping[str, Any]) -> FaultRule:
    """Build a rule from the control surface's JSON, with a precise error for bad input."""
    unknown = set(data) - set(_RULE_FIELDS)
    if unknown:
        raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
    if "kind" not in data:
        raise ValueError(f"fault needs a kind, one of: {', '.join(k.value for k in FaultKind)}")
    try:
        kind = FaultKind(data["kind"])
    except ValueError:
        raise ValueError(
            f"unknown fault kind {data['kind']!r}; one of: {', '.join(k.value for k in FaultKind)}"
        ) from None
    service = data.get("service")
    if service is not None and not isinstance(service, str):
        raise ValueError("service must be a string")
    times = data.get("times", 1)
    if times is not None and (not isinstance(times, int) or isinstance(times, bool)):
        raise ValueError("times must be an integer or null")
    numbers = {}
    for name, default in (("probability", 1.0), ("skip", 0), ("seconds", 0.0)):
        value = data.get(name, default)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"{name} must be a number")
        numbers[name] = value
    return FaultRule(
        kind=kind,
        service=service,
        times=times,
        probability=float(numbers["probability"]),
        skip=int(numbers["skip"]),
        seconds=float(numbers["seconds"]),
    )


class FaultPlan:
    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._next_id = 1

    def add(
        self,
        kind: FaultKind | str,
        service: str | None = None,
        *,
        times: int | None = 1,
        probability: float = 1.0,
        skip: int = 0,
        seconds: float = 0.0,
    ) -> FaultRule:
        rule = FaultRule(
            FaultKind(kind), service, times=times, probability=probability, skip=skip, seconds=seconds
        )
        return self.add_rule(rule)

    def add_rule(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            rule.id = self._next_id
            self._next_id += 1
            self._rules.append(rule)
        return rule

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) < before

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def draw(self, service: str) -> list[FaultRule]:
        """The rules that fire for this call (each rule's counters advance)."""
        lowered = service.lower()
        fired: list[FaultRule] = []
        with self._lock:
            for rule in self._rules:
                if rule.service is not None and rule.service.lower() != lowered:
                    continue
                rule.matched += 1
                if rule.matched <= rule.skip:
                    continue
                if rule.times is not None and rule.fired >= rule.times:
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                fired.append(rule)
        return fired
