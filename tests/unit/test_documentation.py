"""The documentation holds together: a short front page, a manual it links to, links that arrive, and Python
examples that run as pasted (those that need a server run in tests/live/test_documented_calls.py)."""

import re

import pytest

from tests.documents import DOCUMENTS, MANUAL, PROJECT, README, anchors, blocks, links, undefined_names

PYTHON_BLOCKS = blocks(language="python")


def test_the_readme_is_a_front_page_of_at_most_200_lines():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 200


def test_every_document_of_the_manual_opens_with_a_title_and_what_it_covers_and_the_readme_links_it():
    assert len(MANUAL) >= 8, MANUAL
    readme_links = set(links(README))
    for document in MANUAL:
        title, blank, opening = document.read_text(encoding="utf-8").splitlines()[:3]
        assert title.startswith("# ") and not blank and opening and not opening.startswith(("#", "```")), document
        assert f"docs/{document.name}" in readme_links, f"README.md does not link {document.name}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda document: str(document.relative_to(PROJECT)))
def test_every_relative_link_reaches_a_file_and_its_heading(document):
    for target in links(document):
        if re.match(r"\w+://", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (document.parent / path).resolve() if path else document
        assert linked.exists(), f"{document.name}: {target} does not exist"
        if anchor:
            assert anchor in anchors(linked), f"{document.name}: {target} names no heading of {linked.name}"


def test_the_readme_shows_an_answer_for_the_command_line_curl_and_python():
    shown = [block for block in blocks(README) if block.shown]
    assert any("-m clients" in block.code for block in shown)
    assert any(block.code.startswith("curl ") for block in shown)
    assert any(block.language == "python" for block in shown)


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda block: block.where)
def test_every_python_block_compiles_and_defines_every_name_it_uses(block):
    compile(block.code, block.where, "exec")
    assert not undefined_names(block.code), f"{block.where} uses names it never defines"


def test_the_name_check_finds_a_loop_over_an_undefined_name_and_a_missing_import():
    assert undefined_names("for texts in batches:\n    print(texts)\n") == {"batches"}
    assert undefined_names("from conversion.convert import convert\nconvert(Path('x'))\n") == {"Path"}
    assert not undefined_names("from pathlib import Path\nimport numpy as np\n[np.ones(1) for _ in Path('.').iterdir()]\n")
