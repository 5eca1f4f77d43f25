"""The lab's result types: what a check says of one run, what a kernel is
expected to do in a scenario, what it did, and how the two compare."""

from enum import StrEnum
from typing import NamedTuple


class Check(NamedTuple):
    """What a scenario's check says of one run."""
    ok: bool
    evidence: str
    # Counts the scenario sums over its runs (Scenario.require), by name.
    counters: dict | None = None


class Expect(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    # A race the base kernel loses in some runs only: measured, not counted.
    ANY = "any"


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


class Verdict(StrEnum):
    OK = "ok"
    MISMATCH = "MISMATCH"
    INFO = "info"
    SKIP = "skip"


def verdict(expected, outcome, unrelated_failure=False):
    """How an outcome compares with what was expected of it."""
    if outcome == Outcome.SKIP:
        return Verdict.SKIP
    if expected == Expect.ANY:
        return Verdict.INFO
    if unrelated_failure:
        return Verdict.MISMATCH
    return Verdict.OK if outcome == expected else Verdict.MISMATCH
