"""What `make bench` prints: measured runs, ratios with their targets, notes, problems.

Lines are printed as soon as a scenario has them. A run with any non-2xx answer,
socket error or timeout, or with no answer at all, and any problem found outside wrk
(such as "database is locked" in a log), fails the benchmark; a missed target is
printed, not a failure.
"""

import sys
from dataclasses import dataclass, field

from bench.wrk import WrkResult

LABEL_WIDTH = 44


@dataclass(frozen=True)
class Run:
    """One measured wrk run of `who` (service, limit app, login flood)."""

    label: str
    who: str
    result: WrkResult


@dataclass(frozen=True)
class Ratio:
    """A figure and its target: at least `target`, or at most with `at_most`."""

    value: float
    unit: str
    target: float
    at_most: bool = False
    label: str = ""
    digits: int = 2

    @property
    def met(self) -> bool:
        return self.value <= self.target if self.at_most else self.value >= self.target


@dataclass(frozen=True)
class Note:
    text: str
    label: str = ""


@dataclass(frozen=True)
class Problem:
    """An error found outside wrk's figures; it fails the benchmark."""

    text: str
    label: str = ""


Line = Run | Ratio | Note | Problem


def rate(value: float) -> str:
    return f"{value:9,.{0 if value >= 100 else 1}f}"


def run_text(result: WrkResult) -> str:
    text = (
        f"{rate(result.requests_per_second)} req/s  p50 {result.p50_ms:8.2f} ms  "
        f"p99 {result.p99_ms:8.2f} ms  non-2xx {result.non_2xx}  "
        f"socket errors c/r/w/t {result.errors}"
    )
    if result.stalled:
        return text + "  STALLED (no response)"
    return text + ("  ERRORS" if result.failed else "")


def verdict(ratio: Ratio) -> str:
    sign = "<=" if ratio.at_most else ">="
    return f"{'MET' if ratio.met else 'MISSED'} (target {sign} {ratio.target:g})"


def render(line: Line) -> str:
    head = f"{line.label:{LABEL_WIDTH}}"
    if isinstance(line, Run):
        return f"{head} {line.who:8} {run_text(line.result)}"
    if isinstance(line, Ratio):
        value = f"{line.value:9.{line.digits}f}"
        return (
            f"{head} {'ratio' if line.digits else 'count':8} {value} {line.unit}  {verdict(line)}"
        )
    if isinstance(line, Problem):
        return f"{head} PROBLEM  {line.text}"
    return f"{head} {line.text}"


@dataclass
class Report:
    lines: list[Line] = field(default_factory=list)

    def add(self, *lines: Line) -> None:
        for line in lines:
            self.lines.append(line)
            print(render(line), flush=True)

    def failures(self) -> list[str]:
        """The labels of runs with errors or stalls, and the problems found."""
        failed: list[str] = []
        label = ""
        for line in self.lines:
            label = line.label or label
            if (isinstance(line, Run) and line.result.failed) or isinstance(line, Problem):
                failed.append(f"{label.split(')')[0]})")
        return list(dict.fromkeys(failed))

    def summary(self) -> str:
        ratios = [line for line in self.lines if isinstance(line, Ratio)]
        met = sum(ratio.met for ratio in ratios)
        failed = self.failures()
        errors = ", ".join(failed) if failed else "none"
        return (
            f"bench: {len(ratios)} targets, {met} MET, {len(ratios) - met} MISSED; "
            f"errors or stalls: {errors}"
        )

    def exit_code(self) -> int:
        return 1 if self.failures() else 0


def warn(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)
