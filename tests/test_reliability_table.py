"""The README's "Reliability" table and the tests behind it name each other: a row without its test,
or a reliability test without its row, fails here."""

from __future__ import annotations

import ast
import re

from foundation.settings import PROJECT_ROOT


def test_the_readme_reliability_table_matches_the_tests():
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("## Reliability", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"\| `(test_\w+)` \|$", section, re.MULTILINE)
    defined = {
        node.name
        for path in (PROJECT_ROOT / "tests").glob("test_reliability_*.py")
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    } - {"test_the_readme_reliability_table_matches_the_tests"}
    assert len(listed) == len(set(listed)), "a test listed twice"
    assert set(listed) == defined, {"rows without a test": set(listed) - defined,
                                    "tests without a row": defined - set(listed)}
