"""The licence gate: every distribution the product ships with must be permissive or LGPL.

The run-time set is read from this tree's pyproject.toml (``dependencies`` and every extra but
``test``), then followed through the installed distributions' own requirements (markers
evaluated for this interpreter and the extras asked for). Each distribution's licence is judged
from everything it says about itself: the licence files it ships (read, not only named), its
``License ::`` classifiers, its ``License-Expression``, and its ``License`` field. One source
naming a forbidden licence fails it, even when another says "MIT" (dlms-cosem 25.1 says
"License: MIT" while its LICENSE file is the Business Source License 1.1); nothing recognisable
at all fails it too (unknown is not permissive).

Allowed: MIT / MIT-0, BSD, Apache-2.0, ISC, PSF, Unlicense, zlib; LGPL (used unmodified, as a
library). Forbidden: GPL, AGPL, SSPL, BSL, "proprietary", unknown.

Requirements that are not installed here (the ``pi`` and ``systemd`` extras build only on the
board, or need libsystemd) are judged from :data:`REVIEWED`: their licences were read from
their source distributions; a run-time requirement that is neither installed nor reviewed fails.
Test-only dependencies (the ``test`` extra) are listed by :func:`shipped_never_requirements` and never
judged: they are never shipped.
"""

from __future__ import annotations

import importlib.metadata as md
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

packaging_requirements = pytest.importorskip("packaging.requirements")
packaging_utils = pytest.importorskip("packaging.utils")
Requirement = packaging_requirements.Requirement
canonicalize_name = packaging_utils.canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
TEST_EXTRAS = frozenset({"test"})

ALLOWED = frozenset({"MIT", "BSD", "Apache-2.0", "ISC", "PSF", "Unlicense", "Zlib", "LGPL"})
FORBIDDEN = frozenset({"GPL", "AGPL", "SSPL", "BSL", "proprietary"})

# Not installable on the test host (board-only or needs libsystemd); read from their sdists
# (LICENSE files and PKG-INFO) on 2026-12-05. A new version range must be reviewed again.
REVIEWED: dict[str, tuple[str, str]] = {
    "gpiod": ("LGPL", "gpiod 2.5.0: LICENSE is the GNU LGPL 2.1; LGPL-2.1-or-later"),
    "rpi-gpio": ("MIT", "RPi.GPIO 0.7.1: LICENCE.txt MIT; classifier MIT"),
    "spidev": ("MIT", "spidev 3.8: LICENSE MIT; classifier MIT"),
    "smbus2": ("MIT", "smbus2 0.6.1: LICENSE MIT; classifier MIT"),
    "systemd-python": ("LGPL", "systemd-python 235: LICENSE.txt is the GNU LGPL 2.1; LGPLv2+"),
}

# Text found in licence files and metadata -> the family it names. Order matters: the more
# specific names first (LESSER before GENERAL, AFFERO before GENERAL).
_TEXT_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), family) for pattern, family in (
        (r"business source license|\bBUSL-1\.1\b|\bBSL-1\.1\b", "BSL"),
        (r"server side public license|\bSSPL\b", "SSPL"),
        (r"gnu affero general public license|\bAGPL", "AGPL"),
        (r"gnu lesser general public license|gnu library general public license|\bLGPL",
         "LGPL"),
        (r"gnu general public license|\bGPL-[23]\.0|\bGPLv[23]\b|\bGPLv?\d?\+?\)", "GPL"),
        (r"proprietary|all rights reserved\.?\s*$", "proprietary"),
        (r"apache license|\bApache-2\.0\b|apache software license", "Apache-2.0"),
        (r"permission is hereby granted, free of charge|\bMIT(-0)?\b|mit license", "MIT"),
        (r"redistribution and use in source and binary forms|\bBSD\b", "BSD"),
        (r"python software foundation license|\bPSF(-2\.0)?\b", "PSF"),
        (r"\bISC\b|isc license", "ISC"),
        (r"this is free and unencumbered software|\bunlicense\b", "Unlicense"),
        (r"\bzlib\b", "Zlib"),
    ))


def families_in(text: str) -> set[str]:
    """The licence families a text names. LGPL text mentions the GPL; an LGPL hit hides a GPL
    hit in the same text (the LGPL is written as an exception to the GPL)."""
    found = {family for pattern, family in _TEXT_RULES if pattern.search(text)}
    if "LGPL" in found:
        found.discard("GPL")
    return found


def _licence_file_families(text: str) -> set[str]:
    """A licence file is judged by its head (the title and first paragraphs): a permissive
    licence that quotes another's name further down is still that licence."""
    head = "\n".join(text.splitlines()[:40])
    found = families_in(head)
    if "BSL" in families_in(text) or "SSPL" in families_in(text):
        found.add("BSL" if "BSL" in families_in(text) else "SSPL")
    return found


@dataclass
class Verdict:
    name: str
    version: str
    evidence: dict[str, set[str]] = field(default_factory=dict)

    @property
    def families(self) -> set[str]:
        return set().union(*self.evidence.values()) if self.evidence else set()

    @property
    def problem(self) -> str | None:
        bad = self.families & FORBIDDEN
        if bad:
            where = sorted(src for src, fams in self.evidence.items() if fams & FORBIDDEN)
            return f"{self.name} {self.version}: {', '.join(sorted(bad))} (from {where})"
        if not self.families & ALLOWED:
            return f"{self.name} {self.version}: no recognisable licence (unknown)"
        return None


def judge(dist: md.Distribution) -> Verdict:
    meta = dist.metadata
    verdict = Verdict(meta["Name"], dist.version)
    expression = meta.get("License-Expression")
    if expression:
        verdict.evidence["License-Expression"] = families_in(expression)
    classifiers = [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    if classifiers:
        verdict.evidence["classifiers"] = families_in("\n".join(classifiers))
    field_text = meta.get("License")
    if field_text and field_text.strip().upper() not in ("", "UNKNOWN"):
        # a whole licence text pasted into the field is judged like a file
        verdict.evidence["License"] = (_licence_file_families(field_text)
                                       if "\n" in field_text.strip() else
                                       families_in(field_text))
    for file in dist.files or ():
        upper = file.name.upper()
        if not any(word in upper for word in ("LICEN", "COPYING", "NOTICE")):
            continue
        if ".dist-info" not in str(file) and "licenses" not in str(file).lower():
            continue  # a module named after its topic, not the distribution's licence
        try:
            text = Path(str(file.locate())).read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        families = _licence_file_families(text)
        if families or "NOTICE" not in upper:
            verdict.evidence[f"file {file.name}"] = families
    return verdict


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _extras() -> dict[str, list[str]]:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    extras = project.get("optional-dependencies", {})
    assert isinstance(extras, dict)
    return extras


def runtime_requirements() -> list[str]:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    reqs = list(project.get("dependencies", []))
    for extra, items in _extras().items():
        if extra not in TEST_EXTRAS:
            reqs.extend(items)
    return reqs


def shipped_never_requirements() -> list[str]:
    return [req for extra in TEST_EXTRAS for req in _extras().get(extra, [])]


def _closure(roots: list[str]) -> tuple[dict[str, md.Distribution], dict[str, str]]:
    """Installed distributions reached from ``roots`` (markers evaluated here), and the
    requirements that apply here but are not installed (name -> requirement)."""
    found: dict[str, md.Distribution] = {}
    missing: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [(r, frozenset()) for r in roots]
    while todo:
        text, extras = todo.pop()
        req = Requirement(text)
        if req.marker is not None and not any(
                req.marker.evaluate({"extra": e}) for e in (extras or {""})):
            continue
        name = canonicalize_name(req.name)
        if name in found:
            continue
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            missing[name] = text
            continue
        found[name] = dist
        wanted = frozenset(req.extras)
        todo.extend((sub, wanted) for sub in dist.requires or ())
    return found, missing


def _platform_applies(text: str) -> bool:
    req = Requirement(text)
    return req.marker is None or req.marker.evaluate({"extra": ""})


# -- the classifier itself ----------------------------------------------------------------------
@pytest.mark.parametrize(("text", "families"), [
    ("Business Source License 1.1\n\nParameters\n\nLicensor: X", {"BSL"}),
    (("                  GNU LESSER GENERAL PUBLIC LICENSE\n   Version 2.1, February 1999\n"
      "... the GNU General Public License ..."), {"LGPL"}),
    ("                    GNU GENERAL PUBLIC LICENSE\n   Version 3, 29 June 2007", {"GPL"}),
    ("GNU AFFERO GENERAL PUBLIC LICENSE\nVersion 3", {"AGPL"}),
    ("Server Side Public License\nVERSION 1", {"SSPL"}),
    ("License :: Other/Proprietary License", {"proprietary"}),
    ("License :: OSI Approved :: GNU General Public License v3 (GPLv3)", {"GPL"}),
    ("License :: OSI Approved :: GNU Lesser General Public License v2 or later (LGPLv2+)",
     {"LGPL"}),
    ("Permission is hereby granted, free of charge, to any person obtaining a copy", {"MIT"}),
    ("Apache-2.0 OR BSD-3-Clause", {"Apache-2.0", "BSD"}),
    ("MIT-0", {"MIT"}),
    ("PSF-2.0", {"PSF"}),
])
def test_families_named_by_licence_texts(text: str, families: set[str]) -> None:
    assert families_in(text) == families


def test_a_metadata_field_does_not_hide_the_licence_file() -> None:
    """dlms-cosem 25.1's case: "License: MIT" and a BSL LICENSE file -> forbidden."""
    verdict = Verdict("x", "1", {"License": {"MIT"}, "file LICENSE": {"BSL"},
                                 "classifiers": {"proprietary"}})
    assert verdict.problem is not None and "BSL" in verdict.problem
    assert "file LICENSE" in verdict.problem
    assert Verdict("y", "1", {"License": set()}).problem is not None  # unknown
    assert Verdict("z", "1", {"file LICENSE": {"LGPL"}}).problem is None


def test_a_bsl_text_further_down_a_file_still_counts() -> None:
    text = "Copyright (c) 2024 X\n" + "\n" * 60 + "Business Source License 1.1\n"
    assert "BSL" in _licence_file_families(text)


# -- the gate -----------------------------------------------------------------------------------
def test_every_runtime_distribution_is_permissive_or_lgpl() -> None:
    found, missing = _closure(runtime_requirements())
    assert "pymodbus" in found and "pyserial" in found  # the closure really was followed
    problems = [v.problem for v in (judge(d) for d in found.values()) if v.problem]
    for name, text in sorted(missing.items()):
        if name in REVIEWED:
            family = REVIEWED[name][0]
            if family not in ALLOWED:
                problems.append(f"{name}: {family} ({REVIEWED[name][1]})")
        elif _platform_applies(text):
            problems.append(f"{name}: a run-time requirement ({text}) that is neither "
                            f"installed here nor in REVIEWED: review its licence")
    assert not problems, "run-time dependencies that may not ship:\n" + "\n".join(problems)


def test_reviewed_table_covers_only_runtime_requirements() -> None:
    named = {canonicalize_name(Requirement(r).name) for r in runtime_requirements()}
    assert set(REVIEWED) <= named, set(REVIEWED) - named


def test_test_only_tools_never_reach_the_runtime_set() -> None:
    """GPL peers (c104, pyiec61850-ng, pydlms-client) are test-only: no run-time requirement
    may pull them in."""
    found, _ = _closure(runtime_requirements())
    test_names = {canonicalize_name(Requirement(r).name) for r in shipped_never_requirements()}
    shipped_too = {"pyserial", "aiohttp", "cryptography"}  # run-time dependencies that the tests use as well
    leaked = (set(found) & test_names) - shipped_too
    assert not leaked, f"test-only distributions in the run-time set: {sorted(leaked)}"


def test_report_of_the_runtime_set(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints the run-time set with each licence (pytest -s shows it); README's licence
    section is checked against it."""
    found, missing = _closure(runtime_requirements())
    lines = [f"{n} {d.version}: {', '.join(sorted(judge(d).families & ALLOWED))}"
             for n, d in sorted(found.items())]
    lines += [f"{n}: {REVIEWED[n][0]} (reviewed: {REVIEWED[n][1]})"
              for n in sorted(missing) if n in REVIEWED]
    print("\n".join(lines), file=sys.stderr)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Licence", 1)[1].split("\n## ", 1)[0]
    for name in (*found, *(n for n in missing if n in REVIEWED)):
        if name == "rtu-outstation":
            continue
        assert name.lower() in section.lower().replace("_", "-"), \
            f"README's licence section does not name {name}"
