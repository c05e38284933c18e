"""Run FastAPI's own tutorial test suite against linestream (``LineStream(compat="fastapi")``).

FastAPI's source distribution holds its tutorial programs (``docs_src``) and their tests
(``tests/test_tutorial``). This script downloads it from the package index (pinned, and checked against its
SHA-256), keeps those two trees, and runs the tests with ``aliases.py``, which resolves every ``fastapi``
import to linestream. Every test must pass except those listed in ``known_differences.txt``, each with the
reason linestream answers otherwise; a listed test that passes fails the run too (remove it from the list).

    python tests/fastapi_suite/run.py            # prints the counts; exit status 1 on any surprise
    python tests/fastapi_suite/run.py -k body    # extra arguments go to pytest (the comparison is skipped)

The suite needs the test dependencies of FastAPI's tutorials (the dev group of pyproject.toml has them).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VERSION = "0.163.2"
SHA256 = "e605c4c9b94be78b43aa8239a62ccf7b6684346cdc9e053633feab0ab21b87c7"
CACHE = ROOT / ".cache" / "fastapi-suite" / VERSION
#: Tutorials that test an integration written for FastAPI's own class (OpenTelemetry's FastAPI instrumentation)
#: or need a library the suite does not install (Strawberry GraphQL): not run.
EXCLUDED = ("tests/test_tutorial/test_opentelemetry/", "tests/test_tutorial/test_graphql/")


def source_tree() -> Path:
    """The tutorials and their tests, extracted from the checked source distribution (once)."""
    tree = CACHE / "tree"
    if (tree / ".complete").exists():
        return tree
    archive = CACHE / f"fastapi-{VERSION}.tar.gz"
    if not archive.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
             f"fastapi=={VERSION}", "-d", str(CACHE)],
            check=True,
        )  # fmt: skip
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != SHA256:
        archive.unlink()
        raise SystemExit(f"{archive.name}: SHA-256 {digest}, expected {SHA256}; downloaded again next run.")
    prefix = f"fastapi-{VERSION}/"
    kept = ("docs_src/", "tests/__init__.py", "tests/utils.py", "tests/test_tutorial/", "pyproject.toml")
    with tarfile.open(archive) as sdist:
        members = []
        for member in sdist.getmembers():
            name = member.name.removeprefix(prefix)
            if member.isfile() and name.startswith(kept) and not name.startswith(EXCLUDED):
                member.name = name
                members.append(member)
        sdist.extractall(tree, members=members, filter="data")
    (tree / ".complete").touch()
    return tree


def known_differences() -> dict[str, str]:
    """The tests expected to fail (a node id, or the prefix of several), each with its reason."""
    known: dict[str, str] = {}
    for line in (HERE / "known_differences.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            test, _, reason = line.partition(" # ")
            known[test.strip()] = reason.strip()
    return known


def run(extra: list[str]) -> int:
    tree = source_tree()
    report = CACHE / "report.xml"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), str(HERE)])}
    command = [sys.executable, "-m", "pytest", "-p", "aliases", "-p", "no:cacheprovider", "-q", "--tb=line",
               "-n", "1", f"--junitxml={report}", "tests/test_tutorial", *extra]  # fmt: skip
    # (One worker: some tests make and remove files in the shared working directory in module fixtures, a
    # "static" folder in test_static_files and test_custom_docs_ui: on two xdist workers they raced, as they did
    # in CI, one removing the folder under the other.)
    result = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    if extra:
        sys.stdout.write(result.stdout[-20000:])
        return result.returncode
    if not report.exists():
        sys.stdout.write(result.stdout[-20000:] + result.stderr[-5000:])
        return 1
    passed, failed = 0, []
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        classname = case.get("classname", "")
        node = classname.replace(".", "/") + ".py::" + case.get("name", "") if classname else case.get("name", "")
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(node)
        elif case.find("skipped") is None:
            passed += 1
    known = known_differences()
    unexpected = [node for node in failed if not any(node.startswith(prefix) for prefix in known)]
    stale = [prefix for prefix in known if not any(node.startswith(prefix) for node in failed)]
    print(f"FastAPI {VERSION} tutorial suite under linestream: {passed} passed, {len(failed)} known differences")
    if unexpected:
        print(result.stdout[-20000:])
    # Last, so that a caller showing the end of this output shows which tests are the news.
    for node in unexpected:
        print(f"unexpected failure: {node}")
    for prefix in stale:
        print(f"passes now (remove it from known_differences.txt): {prefix}")
    return 1 if unexpected or stale else 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
