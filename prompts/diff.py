"""Side-by-side diffs of two prompt versions (difflib, server-side), as rows a template renders escaped."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

import orjson

from prompts.models import PromptVersion

_WORDS = re.compile(r"\s+|\w+|[^\w\s]")


def version_text(version: PromptVersion) -> str:
    """A version as lines to compare: the text, or one `[role]` block per message, then the config."""
    content = version.content
    if isinstance(content, str):
        lines = [content]
    else:
        lines = []
        for message in content:
            if message.get("type") == "placeholder":
                lines.append(f"[placeholder: {message.get('name', '')}]")
            else:
                lines.append(f"[{message.get('role', '')}]\n{message.get('content', '')}")
    if version.config:
        config = orjson.dumps(version.config, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
        lines.append(f"[config]\n{config}")
    return "\n\n".join(lines)


@dataclass
class Side:
    number: int | None = None
    # (text, changed) pieces: within a changed line, the changed words are marked.
    pieces: list[tuple[str, bool]] = field(default_factory=list)


@dataclass
class Row:
    kind: str  # equal | delete | insert | replace
    left: Side
    right: Side


def _words(a: str, b: str) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    left_words, right_words = _WORDS.findall(a), _WORDS.findall(b)
    left: list[tuple[str, bool]] = []
    right: list[tuple[str, bool]] = []
    matcher = difflib.SequenceMatcher(None, left_words, right_words, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if i2 > i1:
            _add(left, "".join(left_words[i1:i2]), tag != "equal")
        if j2 > j1:
            _add(right, "".join(right_words[j1:j2]), tag != "equal")
    return left, right


def _add(pieces: list[tuple[str, bool]], text: str, changed: bool) -> None:
    """Appends, merging with the previous piece when both are changed or both are not (one mark per run)."""
    if pieces and pieces[-1][1] == changed:
        pieces[-1] = (pieces[-1][0] + text, changed)
    else:
        pieces.append((text, changed))


def side_by_side(a: str, b: str) -> list[Row]:
    """Line rows for two texts: unchanged lines side by side, changed lines paired with their words marked."""
    left_lines, right_lines = a.splitlines(), b.splitlines()
    rows: list[Row] = []
    matcher = difflib.SequenceMatcher(None, left_lines, right_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for offset in range(i2 - i1):
                piece = [(left_lines[i1 + offset], False)]
                rows.append(Row("equal", Side(i1 + offset + 1, piece), Side(j1 + offset + 1, piece)))
            continue
        for offset in range(max(i2 - i1, j2 - j1)):
            i, j = i1 + offset, j1 + offset
            has_left, has_right = i < i2, j < j2
            if has_left and has_right:
                left, right = _words(left_lines[i], right_lines[j])
                rows.append(Row("replace", Side(i + 1, left), Side(j + 1, right)))
            elif has_left:
                rows.append(Row("delete", Side(i + 1, [(left_lines[i], True)]), Side()))
            else:
                rows.append(Row("insert", Side(), Side(j + 1, [(right_lines[j], True)])))
    return rows


def diff_counts(rows: list[Row]) -> tuple[int, int]:
    """(lines added, lines removed); a changed line counts as both."""
    added = sum(1 for r in rows if r.kind in ("insert", "replace"))
    removed = sum(1 for r in rows if r.kind in ("delete", "replace"))
    return added, removed
