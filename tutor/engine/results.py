"""Check results as data, and their three renderings: text, JSON and JUnit XML."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from tutor.engine.status import PROBLEMS, UNCHECKED, Status

_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """Text that XML 1.0 can hold: ANSI escapes and control characters removed,
    whatever the learner's code printed or raised."""
    return _CONTROL.sub("", text)


@dataclass
class CheckResult:
    name: str
    status: str  # passed | failed | error
    message: str = ""
    traceback: str = ""


@dataclass
class LessonResult:
    number: int
    id: str
    title: str
    status: str  # a Status among RESULTS
    checks: list[CheckResult] = field(default_factory=list)
    message: str = ""
    traceback: str = ""
    output: str = ""
    seed: int | None = None
    duration: float = 0.0
    used_files: list[str] | None = None  # the files of model/ the checks imported (None: not known)
    unchanged: bool = False  # not run again: it passed on exactly these files before

    @property
    def passed(self) -> bool:
        return self.status == Status.PASSED

    @property
    def counts(self) -> tuple[int, int]:
        return sum(c.status == Status.PASSED for c in self.checks), len(self.checks)

    @classmethod
    def from_worker(cls, raw: dict[str, Any], id: str, title: str) -> LessonResult:
        checks = [CheckResult(**{k: c.get(k, "") for k in ("name", "status", "message", "traceback")}) for c in raw.get("checks", [])]
        return cls(
            number=raw["number"], id=id, title=title, status=raw["status"], checks=checks,
            message=raw.get("message", ""), traceback=raw.get("traceback", ""),
            output=raw.get("output", ""), seed=raw.get("seed"), duration=raw.get("duration", 0.0),
            used_files=raw.get("used_files"),
        )


@dataclass
class Report:
    workspace: str
    lessons: list[LessonResult]

    @property
    def passed(self) -> int:
        return sum(lesson.status == Status.PASSED for lesson in self.lessons)

    @property
    def failed(self) -> int:
        return sum(lesson.status in PROBLEMS for lesson in self.lessons)

    @property
    def exit_code(self) -> int:
        checked = [l for l in self.lessons if l.status not in UNCHECKED]
        return 0 if checked and all(l.passed for l in checked) else 1

    def to_dict(self, key: str = "") -> dict[str, Any]:
        lessons = []
        for lesson in self.lessons:
            data = asdict(lesson)
            data["checks"] = [{"name": c.name, "status": c.status, "message": c.message} for c in lesson.checks]
            lessons.append(data)
        report = {"workspace": self.workspace, "lessons": lessons, Status.PASSED: self.passed, Status.FAILED: self.failed}
        if key:  # the grader's: a report without it did not come from this run
            report["key"] = key
        return report

    def to_json(self, key: str = "") -> str:
        return json.dumps(self.to_dict(key), indent=2)

    def to_junit(self) -> str:
        import xml.etree.ElementTree as ET  # JUnit only: not on every command's start

        root = ET.Element("testsuites", name="tutor", tests="0", failures="0", errors="0")
        totals = {"tests": 0, "failures": 0, "errors": 0}
        for lesson in self.lessons:
            suite = ET.SubElement(root, "testsuite", name=f"lesson-{lesson.number:02d}-{lesson.id}", time=f"{lesson.duration:.3f}")
            cases = list(lesson.checks)
            if lesson.status in (Status.LOCKED, Status.NOT_RUN):
                cases = [CheckResult(name="(lesson)", status="skipped", message=f"lesson {lesson.status}")]
            elif lesson.status in (Status.ERROR, Status.TAMPERED) and not any(c.status == Status.ERROR for c in cases):
                cases.append(CheckResult(name="(lesson)", status=Status.ERROR, message=lesson.message, traceback=lesson.traceback))
            counts = {"tests": len(cases), "failures": 0, "errors": 0, "skipped": 0}
            for case in cases:
                tc = ET.SubElement(suite, "testcase", classname=f"lesson{lesson.number:02d}", name=xml_safe(case.name))
                message = xml_safe(case.message)
                if case.status == Status.FAILED:
                    counts["failures"] += 1
                    ET.SubElement(tc, "failure", message=_first_line(message)).text = message
                elif case.status == Status.ERROR:
                    counts["errors"] += 1
                    ET.SubElement(tc, "error", message=_first_line(message)).text = "\n\n".join(filter(None, [message, xml_safe(case.traceback)]))
                elif case.status == "skipped":
                    counts["skipped"] += 1
                    ET.SubElement(tc, "skipped", message=message)
            if lesson.output:
                ET.SubElement(suite, "system-out").text = xml_safe(lesson.output)
            for key, value in counts.items():
                suite.set(key, str(value))
            for key in totals:
                totals[key] += counts[key]
        for key, value in totals.items():
            root.set(key, str(value))
        ET.indent(root)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""
