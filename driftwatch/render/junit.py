"""`check --format junit`: a report as JUnit XML, for CI test dashboards. Pure.

One test suite per target. Each holds a `check` case (an error where the target could not be
checked), a `revision` case (failed where the revision is not at head and `revision` is in
`--fail-on`), a `schema` case (skipped, with the reason, where no schema was compared), and
one case per finding: failed where the finding makes the target out of sync under
`--fail-on`, skipped (with its attribution) where it is listed but does not (pending and
unmigrated ones by default). Test cases are named `kind name` under a class
`driftwatch.<target>.<schema>.<table>`, so dashboards group them by table and a finding keeps
its name from run to run.

Everything of database origin is clipped (`bounds`) and stripped of the characters XML 1.0
cannot hold; the XML writer escapes the rest.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from driftwatch.bounds import FINDINGS_LISTED, clip, first
from driftwatch.findings import Finding
from driftwatch.render.text import finding_details, target_text
from driftwatch.report import Category, Report, TargetReport, fails

# XML 1.0 has no way to write these, escaped or not
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)


def _case(suite: ET.Element, classname: str, name: str, seconds: float = 0.0) -> ET.Element:
    return ET.SubElement(
        suite, "testcase", classname=_text(classname), name=_text(name), time=f"{seconds:.3f}"
    )


def _outcome(case: ET.Element, tag: str, message: str, body: str | None = None) -> None:
    element = ET.SubElement(case, tag, message=_text(clip(message)))
    if tag != "skipped":
        element.set("type", tag)
    if body:
        element.text = _text(body)


def _finding_body(finding: Finding) -> str:
    lines = [finding.message]
    lines += [f"{name}: {value}" for name, value in finding_details(finding)]
    if finding.fix is not None:
        lines.append(f"fix:\n{finding.fix}")
    return "\n".join(lines)


def _finding_cases(suite: ET.Element, target: TargetReport, fail_on: frozenset[Category]) -> None:
    schema = target.schema
    if schema is None or not schema.compared:
        return
    shown, omitted = first(schema.findings, FINDINGS_LISTED)
    for finding in shown:
        where = ".".join(p for p in (target.target, finding.schema, finding.table) if p)
        name = f"{finding.kind.value} {finding.name or '(table)'}"
        case = _case(suite, f"driftwatch.{where}", name)
        summary = f"{finding.attribution.value}: {finding.message}"
        if fails(finding, fail_on):
            _outcome(case, "failure", summary, _finding_body(finding))
        else:
            _outcome(case, "skipped", f"{summary} (not in --fail-on)")
    if omitted:
        case = _case(suite, f"driftwatch.{target.target}", "more findings")
        _outcome(case, "skipped", f"{omitted} more findings, not listed (see the JSON report)")


def _suite(parent: ET.Element, target: TargetReport, fail_on: frozenset[Category]) -> None:
    status = target.status(fail_on)
    suite = ET.SubElement(
        parent,
        "testsuite",
        name=_text(f"driftwatch {target.target}"),
        timestamp=target.started_at.replace(tzinfo=None).isoformat(timespec="seconds"),
        time=f"{target.duration_seconds:.3f}",
    )
    classname = f"driftwatch.{target.target}"
    check = _case(suite, classname, "check", target.duration_seconds)
    problem = target.problem(fail_on)
    if problem is not None:
        _outcome(check, "error", problem)
    revision = target.revision
    if revision is not None:
        case = _case(suite, classname, "revision")
        if not revision.in_sync:
            word = revision.kind.value.replace("_", " ")
            body = "\n".join(line.strip() for line in target_text(target, status))
            if Category.REVISION in fail_on:
                _outcome(case, "failure", f"revision: {word}", body)
            else:
                _outcome(case, "skipped", f"revision: {word} (not in --fail-on)")
    schema = target.schema
    if schema is not None and not schema.compared:
        case = _case(suite, classname, "schema")
        _outcome(case, "skipped", f"schema not compared: {schema.skipped_reason}")
    elif schema is not None and not schema.findings:
        _case(suite, classname, "schema")
    _finding_cases(suite, target, fail_on)
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    for tag, attribute in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
        suite.set(attribute, str(sum(1 for c in cases if c.find(tag) is not None)))


def render_junit(report: Report) -> str:
    """The report as one JUnit XML document (a `testsuites` root)."""
    root = ET.Element("testsuites", name="driftwatch")
    for target in report.targets:
        _suite(root, target, report.fail_on)
    suites = root.findall("testsuite")
    for attribute in ("tests", "failures", "errors", "skipped"):
        root.set(attribute, str(sum(int(s.get(attribute, "0")) for s in suites)))
    root.set("time", f"{sum(t.duration_seconds for t in report.targets):.3f}")
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}'
