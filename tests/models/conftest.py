"""TensorFlow tests run in a child process.

TensorFlow and Kivy's SDL2 window cannot share an interpreter: whichever of the two is imported
second crashes it (a segmentation fault while loading ``tensorflow``'s or SDL2's shared
libraries), and the suite imports the Kivy client in-process (``tests/mobile_client``). A test
that trains or exports with TensorFlow asks for the ``tensorflow_process`` fixture: the first
such test runs every such test of the session in one fresh ``python -m pytest`` child (one
TensorFlow import for all of them), and each test then reports the outcome it had there (pass,
fail with the child's message, or skip). In the child (``REALTY_EDGE_TF_CHILD=1``) the tests
run in-process as usual.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHILD_ENV = "REALTY_EDGE_TF_CHILD"
CHILD_TIMEOUT_S = 280


def _in_child() -> bool:
    return os.environ.get(CHILD_ENV) == "1"


def _outcomes(report: Path) -> dict[str, tuple[str, str]]:
    """Node id -> (passed | failed | skipped, detail) from a JUnit XML report."""
    out: dict[str, tuple[str, str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        status, detail = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                status, detail = "failed", f"{child.get('message', '')}\n{child.text or ''}"
            elif child.tag == "skipped":
                status, detail = "skipped", child.get("message", "")
        module = case.get("classname", "").replace(".", "/") + ".py"
        out[f"{module}::{case.get('name', '')}"] = (status, detail)
    return out


@pytest.fixture(scope="session")
def _tensorflow_child(request, tmp_path_factory):
    """Run the session's TensorFlow tests in one child pytest; their outcomes by node id."""
    if _in_child():
        return None
    nodeids = [
        item.nodeid for item in request.session.items if "tensorflow_process" in item.fixturenames
    ]
    report = tmp_path_factory.mktemp("tensorflow-child") / "junit.xml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            f"--junitxml={report}",
            *nodeids,
        ],
        cwd=ROOT,
        env={**os.environ, CHILD_ENV: "1"},
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
    )
    tail = (proc.stdout + proc.stderr)[-3000:]
    outcomes = _outcomes(report) if report.exists() else {}
    return outcomes, f"child pytest exited {proc.returncode}:\n{tail}"


@pytest.fixture
def tensorflow_process(request, _tensorflow_child):
    """Marks a test that imports TensorFlow; its body runs in the child process."""
    if _tensorflow_child is None:
        return None
    outcomes, log = _tensorflow_child
    return outcomes.get(request.node.nodeid, ("missing", log))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """In the parent, a TensorFlow test's body already ran in the child: report its outcome."""
    if "tensorflow_process" not in pyfuncitem.fixturenames or _in_child():
        return None
    status, detail = pyfuncitem.funcargs["tensorflow_process"]
    if status == "skipped":
        pytest.skip(detail)
    if status != "passed":
        pytest.fail(f"in the TensorFlow child process ({status}):\n{detail}", pytrace=False)
    return True
