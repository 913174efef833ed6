"""The README and docs/: every relative link resolves (file and anchor), the README stays short and starts with the
two set-up commands, .ci/run runs the README's test command, and the write-your-own-method page shows the example
file verbatim."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)


def prose(path: Path) -> str:
    """The page without its fenced code blocks (a link-like string in code is not a link)."""
    return FENCE.sub("", path.read_text())


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered -1, -2, …"""
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", prose(path), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        seen[slug] = seen.get(slug, -1) + 1
    return {slug if i == 0 else f"{slug}-{i}" for slug, n in seen.items() for i in range(n + 1)}



def test_anchors_are_github_slugs(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## ood: real benchmarks\n\n```\n# a comment, not a heading\n```\n\n"
                    "## Training data: `data.train`\n\n## Notes\n\n## Notes\n")
    assert anchors(page) == {"title", "ood-real-benchmarks", "training-data-datatrain", "notes", "notes-1"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    for target in LINK.findall(prose(page)):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.exists(), f"{page.relative_to(ROOT)}: link to missing {target}"
        if anchor:
            assert file.suffix == ".md" and anchor in anchors(file), \
                f"{page.relative_to(ROOT)}: no heading for #{anchor} in {file.relative_to(ROOT)}"


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in LINK.findall(prose(ROOT / "README.md"))}
    assert sorted(p for p in PAGES[1:] if p not in linked) == []


def test_readme_is_short_and_starts_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200
    install = "python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && "
    assert lines[2] == "```bash" and lines[5] == "```"
    assert lines[3] == install + "pip install -e . && rmbench demo"
    assert lines[4].startswith(install + 'pip install -e ".[test]" && pytest -q')  # pytest flags may follow


def test_ci_runs_the_readme_test_command():
    test_command = (ROOT / "README.md").read_text().splitlines()[4]
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_method_page_shows_the_example_verbatim():
    page = (ROOT / "docs" / "write-your-own-method.md").read_text()
    example = (ROOT / "docs" / "examples" / "my_method.py").read_text()
    assert f"```python\n{example}```" in page


def test_code_cites_only_pages_of_the_repository():
    """A docstring or comment names ``docs/<page>.md`` that exists, and no design file outside the repository."""
    cited = set()
    for path in [*ROOT.glob("*.py"), *(p for d in ("harness", "methods", "leaderboards", "tests")
                                      for p in (ROOT / d).rglob("*.py"))]:
        text = path.read_text()
        assert not re.search(r"\b(ARCHITECTURE|METHODS)\.md", text), f"{path.relative_to(ROOT)} cites a file " \
                                                                     f"outside the repository"
        cited |= set(re.findall(r"docs/[\w-]+\.md", text))
    assert "docs/architecture.md" in cited and "docs/methods.md" in cited
    assert {page for page in cited if not (ROOT / page).is_file()} == set()
