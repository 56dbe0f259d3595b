"""The project's documentation as the tests read it: the README, docs/ and docker/README.md, their fenced code
blocks (each with the output shown under it, if any), their links, and the names a Python block uses."""

import ast
import builtins
import re
from dataclasses import dataclass
from pathlib import Path
from textwrap import dedent

from tests.support import PROJECT

README = PROJECT / "README.md"
MANUAL = sorted((PROJECT / "docs").glob("*.md"))
DOCUMENTS = (README, *MANUAL, PROJECT / "docker" / "README.md")

_FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```[ ]*$", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"\[[^\]]+\]\(([^)\s]+)\)")


@dataclass(frozen=True)
class Block:
    document: Path
    line: int  # of the opening fence
    language: str
    code: str
    shown: str | None  # the `text` block right under it: what the command prints

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(PROJECT)}:{self.line}"


def blocks(*documents: Path, language: str | None = None) -> list[Block]:
    """The fenced code blocks of `documents` (every document by default), in order."""
    found = []
    for document in documents or DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        fences = list(_FENCE.finditer(text))
        for fence, after in zip(fences, [*fences[1:], None]):
            shown = None
            if after is not None and after[2] == "text" and not text[fence.end() : after.start()].strip():
                shown = dedent(after[3])
            line = text.count("\n", 0, fence.start()) + 1
            found.append(Block(document, line, fence[2], dedent(fence[3]), shown))
    return [block for block in found if language is None or block.language == language]


def links(document: Path) -> list[str]:
    """Every link target in a document, outside its code blocks."""
    return _LINK.findall(_FENCE.sub("", document.read_text(encoding="utf-8")))


def anchors(document: Path) -> set[str]:
    """The anchors GitHub makes of a document's headings."""
    headings = re.findall(r"^#+ (.+)$", _FENCE.sub("", document.read_text(encoding="utf-8")), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def undefined_names(code: str) -> set[str]:
    """Names a block reads that it never binds, imports or takes from the builtins: what fails as pasted."""
    tree = ast.parse(code)
    bound, read = set(dir(builtins)), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.alias):
            bound.add(node.asname or node.name.partition(".")[0])
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return read - bound
