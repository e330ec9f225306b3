"""Machine-readable and human results of a grading run: JSON, JUnit XML, Markdown."""

import csv
import html
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

# Characters XML 1.0 cannot carry at all (ElementTree escapes <, >, & and
# quotes, but writes these as they are, which no parser accepts).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text):
    return _NOT_XML.sub("\ufffd", str(text))


def to_json(results):
    """``{"submissions": [...]}`` with every check, as documented in the README."""
    return json.dumps({"submissions": [r.as_dict() for r in results]}, indent=2) + "\n"


def to_junit(results):
    """One <testsuite> per submission, one <testcase> per check."""
    suites = ET.Element("testsuites", name="cnn1d-autograder")
    for r in results:
        failed = sum(not c.passed for c in r.checks)
        suite = ET.SubElement(suites, "testsuite", name=_xml(f"{r.student}/{r.assignment}"),
                              tests=str(len(r.checks)), failures=str(failed), errors="0",
                              skipped="0")
        ET.SubElement(ET.SubElement(suite, "properties"), "property", name="score",
                      value=f"{r.score:g}/{r.max_score:g}")
        for c in r.checks:
            case = ET.SubElement(suite, "testcase", classname=_xml(f"{r.student}.{r.assignment}"),
                                 name=_xml(c.id))
            if not c.passed:
                first = c.message.splitlines()[0][:500] if c.message else ""
                failure = ET.SubElement(case, "failure", message=_xml(first))
                failure.text = _xml(c.message)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _cell(text):
    """A Markdown table cell that shows ``text`` as text: HTML escaped, Markdown's
    own markup characters backslash-escaped, lines joined with <br>."""
    text = html.escape(_xml(text), quote=True)
    text = re.sub(r"([\\`*_{}\[\]()#+!|~>-])", r"\\\1", text)
    return "<br>".join(line.strip() for line in text.splitlines())


def to_markdown(results):
    """A summary table, then every failed check with its message."""
    lines = ["# Grading summary", "", "| student | assignment | score | checks passed |",
             "|---|---|---|---|"]
    for r in results:
        passed = sum(c.passed for c in r.checks)
        lines.append(f"| {_cell(r.student)} | {_cell(r.assignment)} | {r.score:g} / "
                     f"{r.max_score:g} | "
                     f"{passed} / {len(r.checks)} |")
    failures = [(r, c) for r in results for c in r.checks if not c.passed]
    if failures:
        lines += ["", "## Failed checks", "", "| student | check | points | message |",
                  "|---|---|---|---|"]
        for r, c in failures:
            lines.append(f"| {_cell(r.student)} | {_cell(c.id)} | 0 / {c.max_points:g} | "
                         f"{_cell(c.message)} |")
    return "\n".join(lines) + "\n"


def to_csv(results):
    """One row per submission: student, assignment, score, max_score (a grade book)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", "assignment", "score", "max_score"])
    for r in results:
        writer.writerow([r.student, r.assignment, f"{r.score:g}", f"{r.max_score:g}"])
    return out.getvalue()


def write_reports(results, json_path=None, junit_path=None, markdown_path=None, csv_path=None):
    for path, render in ((json_path, to_json), (junit_path, to_junit),
                         (markdown_path, to_markdown), (csv_path, to_csv)):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # a student id from a folder name that is not UTF-8 is written as its own bytes
            Path(path).write_text(render(results), errors="surrogateescape")
