"""Bad records a load meets: every one counted, the first ``KEPT_PROBLEMS`` kept for the job's report, and
``TooManyBadRecords`` raised at the first one past ``max_bad_records`` (BigQuery's rule: the load then fails and
writes nothing)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bqlite_app.errors import ValidationFailed

KEPT_PROBLEMS = 100         # bad records remembered for the job's report (all are counted)


class TooManyBadRecords(ValidationFailed):
    """More bad records than ``max_bad_records`` allows; the load fails and nothing is written."""


@dataclass(frozen=True)
class Problem:
    location: str           # "line 12", "row 40", "record 7"
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass
class BadRecords:
    limit: int
    count: int = 0
    problems: list[Problem] = field(default_factory=list)

    def add(self, location: str, message: str) -> None:
        self.count += 1
        if len(self.problems) < KEPT_PROBLEMS:
            self.problems.append(Problem(location, message))
        if self.count > self.limit:
            shown = "; ".join(str(p) for p in self.problems[:5])
            raise TooManyBadRecords(
                f"Error while reading data: too many bad records ({self.count} found, max_bad_records is "
                f"{self.limit}): {shown}")
