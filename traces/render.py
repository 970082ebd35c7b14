"""Trace content rendered by shape, safely, and the waterfall rows of the trace page.

Everything a trace carries is attacker-controlled. Every string that reaches HTML here goes through
`escape`/`format_html`, except markdown, which is rendered by markdown-it-py with raw HTML disabled
and then cleaned by nh3 (an allow-list of tags and attributes, http/https/mailto links only). Links
and images from content get an href only when their scheme is http(s); images are never loaded
(they are shown as links), so opening a span cannot make the browser fetch a remote URL.

Shapes: chat messages (OpenAI, Anthropic, OTel GenAI `parts`, one message or `{"messages": [...]}`)
render as a conversation; strings that look like markdown as markdown; other strings as text,
clipped with an expander; everything else as a JSON tree of `<details>` elements.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

import nh3
import orjson
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

# Strings longer than this show their first CLIP_PREVIEW characters and an expander.
CLIP_CHARS = 1_500
CLIP_PREVIEW = 600
# Markdown over this size is shown as plain (clipped) text: rendering it would cost more than it helps.
MARKDOWN_MAX_CHARS = 100_000
# A JSON tree stops after this many values and says how many it left out.
JSON_MAX_NODES = 3_000
# Levels of a JSON tree that start open.
JSON_OPEN_DEPTH = 2
# Strings that hold JSON (tool arguments, OTel attributes) are parsed up to this size.
JSON_STRING_MAX = 2_000_000
SAFE_SCHEMES = {"http", "https"}

_MARKDOWN_HINTS = re.compile(
    r"^\s{0,3}(#{1,6}\s|[-*+]\s|\d{1,3}[.)]\s|>\s?|```|~~~|\|.*\|\s*$)"  # headings, lists, quotes, fences, tables
    r"|\*\*[^*\n]+\*\*|__[^_\n]+__|`[^`\n]+`|\[[^\]\n]+\]\([^)\s]+\)",  # emphasis, code, links
    re.MULTILINE,
)
_MARKDOWN_TAGS = {
    "a", "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s", "code", "pre",
    "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip


def _markdown_image_as_link(self: Any, tokens: Sequence[Any], idx: int, options: Any, env: Any) -> str:
    """`![alt](src)` becomes a link: rendering the image would fetch a URL the trace's author chose."""
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env) or "image"
    src = token.attrGet("src") or ""
    return format_html('<a href="{}">image: {}</a>', src, alt) if safe_url(src) else format_html("image: {}", alt)


_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_markdown.enable(["table", "strikethrough"])
_markdown.add_render_rule("image", _markdown_image_as_link)


def safe_url(url: Any) -> str | None:
    """The URL if it is plain http(s) (no javascript:, data:, control characters), else None."""
    if not isinstance(url, str) or len(url) > 8_000 or any(ord(c) < 33 for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in SAFE_SCHEMES and parts.netloc else None


def markdown_html(text: str) -> SafeString:
    """Markdown → HTML that can't run script: markdown-it without raw HTML, then nh3's allow-list."""
    cleaned = nh3.clean(
        _markdown.render(text),
        tags=_MARKDOWN_TAGS,
        attributes={"a": {"href", "title"}, "th": {"align"}, "td": {"align"}},
        url_schemes=SAFE_SCHEMES | {"mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(cleaned)  # noqa: S308 - nh3 has just removed everything outside the allow-list


def looks_like_markdown(text: str) -> bool:
    return bool(_MARKDOWN_HINTS.search(text))


def clipped_text(text: str) -> SafeString:
    """Escaped text; a long one shows a preview and expands in place (closed <details> content is not laid out)."""
    if len(text) <= CLIP_CHARS:
        return format_html('<span class="txt">{}</span>', text)
    return format_html(
        '<details class="clip"><summary><span class="txt clip-head">{}…</span>'
        '<span class="clip-more">Show all {} characters</span></summary><span class="txt">{}</span></details>',
        text[:CLIP_PREVIEW],
        f"{len(text):,}",
        text,
    )


def string_html(text: str) -> SafeString:
    if len(text) <= MARKDOWN_MAX_CHARS and looks_like_markdown(text):
        return format_html('<div class="md">{}</div>', markdown_html(text))
    return clipped_text(text)


def parse_json_string(value: Any) -> Any:
    """A string holding a JSON object or array, parsed; anything else unchanged."""
    if isinstance(value, str) and 1 < len(value) <= JSON_STRING_MAX and value.lstrip()[:1] in ("{", "["):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
        if isinstance(parsed, dict | list):
            return parsed
    return value


# --- Shapes -----------------------------------------------------------------------------------------


def _is_message(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("role"), str)
        and any(k in item for k in ("content", "parts", "tool_calls", "function_call"))
    )


def chat_messages(value: Any) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """(messages, the other top-level fields) when the value is a conversation, else None."""
    if isinstance(value, list) and value and all(_is_message(item) for item in value):
        return value, {}
    if _is_message(value):
        return [value], {}
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        found = chat_messages(value["messages"])
        if found is not None:
            return found[0], {k: v for k, v in value.items() if k != "messages"}
    return None


def detect_shape(value: Any) -> str:
    """One of "empty", "chat", "markdown", "text", "json" (strings holding JSON count as what they hold)."""
    value = parse_json_string(value)
    if value is None or value == "" or value == [] or value == {}:
        return "empty"
    if chat_messages(value) is not None:
        return "chat"
    if isinstance(value, str):
        return "markdown" if len(value) <= MARKDOWN_MAX_CHARS and looks_like_markdown(value) else "text"
    return "json"


def render_value(value: Any) -> SafeString:
    """Input, output or metadata, rendered by shape."""
    value = parse_json_string(value)
    shape = detect_shape(value)
    if shape == "empty":
        return format_html('<p class="muted small">{}</p>', "Empty" if value is not None else "None")
    if shape == "chat":
        messages, rest = chat_messages(value)  # type: ignore[misc]
        chat = format_html('<div class="chat">{}</div>', _join(_message_html(m) for m in messages))
        return chat if not rest else format_html("{}{}", chat, json_tree(rest))
    if isinstance(value, str):
        return string_html(value)
    return json_tree(value)


def _join(pieces: Iterable[SafeString]) -> SafeString:
    return mark_safe("".join(pieces))  # noqa: S308 - every piece is already escaped


# --- Chat -------------------------------------------------------------------------------------------


def _image_html(url: Any, media_type: Any = None) -> SafeString:
    """An image by reference: a link for http(s), a description for inline data, text for anything else."""
    if safe_url(url):
        return format_html(
            '<a class="img-ref" href="{}" target="_blank" rel="noopener noreferrer nofollow">image: {}</a>',
            url,
            _short(url, 120),
        )
    if isinstance(url, str) and url.startswith("data:"):
        head = url[5:].split(",", 1)[0]
        return format_html(
            '<span class="img-ref">inline image ({}, {} chars)</span>', _short(head, 60), f"{len(url):,}"
        )
    if media_type is not None:
        return format_html('<span class="img-ref">inline image ({})</span>', _short(str(media_type), 60))
    return format_html('<span class="img-ref">image: <code>{}</code></span>', _short(str(url), 200))


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tool_call_html(name: Any, call_id: Any, arguments: Any) -> SafeString:
    return format_html(
        '<div class="tool-call"><div class="tool-head"><span class="badge badge-accent plain">tool call</span> '
        "<code>{}</code>{}</div>{}</div>",
        name if name is not None else "?",
        format_html(' <span class="muted small">{}</span>', call_id) if call_id else "",
        render_value(arguments),
    )


def _tool_result_html(call_id: Any, content: Any) -> SafeString:
    return format_html(
        '<div class="tool-result"><div class="tool-head"><span class="badge badge-green plain">tool result</span>{}'
        "</div>{}</div>",
        format_html(' <span class="muted small">for {}</span>', call_id) if call_id else "",
        _content_html(content),
    )


def _part_html(part: Any) -> SafeString:
    """One content part of any of the common wire shapes."""
    if isinstance(part, str):
        return string_html(part)
    if not isinstance(part, dict):
        return json_tree(part)
    kind = part.get("type")
    if kind in ("text", "input_text", "output_text") or (kind is None and set(part) == {"text"}):
        text = part.get("text", part.get("content"))
        return string_html(text) if isinstance(text, str) else render_value(text)
    if kind in ("image_url", "input_image"):
        image = part.get("image_url")
        return _image_html(image.get("url") if isinstance(image, dict) else image)
    if kind == "image":
        source = part.get("source") if isinstance(part.get("source"), dict) else {}
        return _image_html(source.get("url") or part.get("url"), source.get("media_type"))
    if kind in ("uri", "blob", "file") and part.get("modality") == "image":
        return _image_html(part.get("uri"), part.get("mime_type") if kind != "uri" else None)
    if kind in ("tool_call", "tool_use", "function_call"):
        arguments = part.get("arguments", part.get("input"))
        return _tool_call_html(part.get("name"), part.get("id") or part.get("call_id"), parse_json_string(arguments))
    if kind in ("tool_call_response", "tool_result", "function_call_output"):
        call_id = part.get("id") or part.get("tool_use_id") or part.get("call_id")
        return _tool_result_html(call_id, part.get("response", part.get("content", part.get("output"))))
    return json_tree(part)


def _content_html(content: Any) -> SafeString:
    content = parse_json_string(content)
    if isinstance(content, list):
        return _join(_part_html(part) for part in content)
    if content is None or content == "":
        return mark_safe("")
    return _part_html(content)


def _message_html(message: Mapping[str, Any]) -> SafeString:
    role = str(message.get("role"))
    body: list[SafeString] = []
    if message.get("role") == "tool" and "parts" not in message:
        body.append(_tool_result_html(message.get("tool_call_id"), message.get("content")))
    else:
        body.append(_content_html(message.get("parts", message.get("content"))))
    for call in message.get("tool_calls") or []:
        if isinstance(call, dict):
            function = call.get("function") if isinstance(call.get("function"), dict) else call
            arguments = parse_json_string(function.get("arguments"))
            body.append(_tool_call_html(function.get("name"), call.get("id"), arguments))
    if isinstance(message.get("function_call"), dict):
        call = message["function_call"]
        body.append(_tool_call_html(call.get("name"), None, parse_json_string(call.get("arguments"))))
    extra = [f"{key}: {message[key]}" for key in ("name", "finish_reason") if isinstance(message.get(key), str)]
    return format_html(
        '<div class="msg" data-role="{}"><div class="msg-role">{}{}</div><div class="msg-body">{}</div></div>',
        _short(role.lower(), 40),
        _short(role, 40),
        format_html(' <span class="muted small">{}</span>', " · ".join(extra)) if extra else "",
        _join(body),
    )


# --- JSON tree --------------------------------------------------------------------------------------


def _scalar_html(value: Any) -> SafeString:
    if isinstance(value, str):
        return format_html('<span class="j-str">{}</span>', clipped_text(value))
    if value is None or isinstance(value, bool):
        return format_html('<span class="j-lit">{}</span>', orjson.dumps(value).decode())
    return format_html('<span class="j-num">{}</span>', value)


class _Budget:
    def __init__(self, nodes: int) -> None:
        self.left = nodes


def _json_node(key: SafeString, value: Any, depth: int, budget: _Budget) -> SafeString:
    budget.left -= 1
    if not isinstance(value, dict | list) or not value:
        shown = (
            _scalar_html(value) if not isinstance(value, dict | list) else ("{}" if isinstance(value, dict) else "[]")
        )
        return format_html('<div class="j-row">{}{}</div>', key, shown)
    items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
    children: list[SafeString] = []
    for child_key, child in items:
        if budget.left <= 0:
            children.append(
                format_html('<div class="j-row muted">… {} more not shown</div>', len(items) - len(children))
            )
            break
        label = format_html('<span class="j-key">{}</span>: ', child_key)
        children.append(_json_node(label, child, depth + 1, budget))
    summary = f"{{{len(items)}}}" if isinstance(value, dict) else f"[{len(items)}]"
    return format_html(
        '<details class="j-node"{}><summary>{}<span class="j-count">{}</span></summary><div class="j-kids">{}</div>'
        "</details>",
        mark_safe(" open") if depth < JSON_OPEN_DEPTH else "",
        key,
        summary,
        _join(children),
    )


def json_tree(value: Any) -> SafeString:
    """A collapsible tree: objects and arrays are <details> (the first levels open), scalars are rows."""
    return format_html('<div class="json">{}</div>', _json_node(mark_safe(""), value, 0, _Budget(JSON_MAX_NODES)))


# --- Numbers --------------------------------------------------------------------------------------


def duration_text(ms: float | None) -> str:
    if ms is None:
        return ""
    if ms < 1_000:
        return f"{ms:.0f}ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f}s"
    minutes, seconds = divmod(ms / 1000, 60)
    return f"{minutes:.0f}m {seconds:.0f}s"


def cost_text(cost: Decimal | float | None) -> str:
    if cost is None:
        return ""
    value = float(cost)
    if value == 0:
        return "$0"
    return f"${value:.4f}" if value >= 0.01 else f"${value:.6f}".rstrip("0")


THUMB_UP = "👍 Up"
THUMB_DOWN = "👎 Down"


def is_thumb(*, name: str, data_type: str, source: str | None) -> bool:
    """End-user feedback (any BOOLEAN score from FEEDBACK, e.g. the widget's `user-feedback`) and the score
    panel's `thumbs` read as a thumb up or down, not as True/False."""
    return data_type == "BOOLEAN" and (source == "FEEDBACK" or name == "thumbs")


def thumb_text(value: float | None) -> str:
    return THUMB_UP if value == 1 else THUMB_DOWN


def thumbs_summary(*, up: int, down: int) -> str:
    """Several thumbs under one name: one verdict as such, a mix as counts ("👍 2 · 👎 1")."""
    if up and down:
        return f"👍 {up} · 👎 {down}"
    verdict = THUMB_UP if up else THUMB_DOWN
    count = up or down
    return verdict if count == 1 else f"{verdict} ({count})"


def score_text(
    *, value: float | None, string_value: str | None, data_type: str, name: str = "", source: str | None = None
) -> str:
    """A score as a badge shows it: thumbs as 👍 Up / 👎 Down, categories and booleans by label, numbers to four
    significant digits."""
    if is_thumb(name=name, data_type=data_type, source=source):
        return thumb_text(value)
    if data_type in ("CATEGORICAL", "BOOLEAN", "TEXT") and string_value:
        return string_value
    return "—" if value is None else f"{value:.4g}"


def millis(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds() * 1000


@dataclass(frozen=True)
class UsageRow:
    usage_type: str
    tokens: int | None
    cost: str
    unit_price: str


def usage_cost_rows(usage: Any, cost: Any, prices: Any) -> list[UsageRow]:
    """One row per usage type seen in tokens or cost, with the unit price (per 1M tokens) that was applied."""
    usage = usage if isinstance(usage, dict) else {}
    cost = cost if isinstance(cost, dict) else {}
    prices = prices if isinstance(prices, dict) else {}
    names = sorted(dict.fromkeys([*usage, *cost]), key=lambda name: name == "total")  # stable: the total last
    rows = []
    for name in names:
        price = prices.get(name)
        tokens = usage.get(name)
        rows.append(
            UsageRow(
                usage_type=name,
                tokens=tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None,
                cost=cost_text(cost[name]) if isinstance(cost.get(name), int | float) else "",
                unit_price=f"${price * 1_000_000:g} / 1M" if isinstance(price, int | float) else "",
            )
        )
    return rows


# --- Waterfall --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpanRow:
    """One compact row of the tree and timeline: no bodies, only what the row shows."""

    id: str
    type: str
    name: str
    depth: int
    seq: int  # position in start order: the order j/k walks
    has_children: bool
    is_error: bool
    is_warning: bool
    duration: str
    cost: str
    style: str  # CSS custom properties for the indent and the bar: "--d:2;--x:10.5;--w:3.25;--f:40"


def _pct(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def waterfall(
    spans: Sequence[Mapping[str, Any]], *, start: datetime, end: datetime | None
) -> tuple[list[SpanRow], float]:
    """Spans (dicts of the light columns, in start order) as tree rows depth-first, with bar positions on
    one time axis from `start`; returns the rows and the axis length in ms.

    A span whose parent is missing (not yet arrived, or another trace's) is a root; a parent cycle, which
    a client can send, is broken where it is first met, so every span appears exactly once.
    """
    by_id = {span["id"]: span for span in spans}
    children: dict[str, list[Mapping[str, Any]]] = {}
    roots: list[Mapping[str, Any]] = []
    for span in spans:
        parent = span["parent_id"]
        if parent and parent in by_id and parent != span["id"]:
            children.setdefault(parent, []).append(span)
        else:
            roots.append(span)
    seq = {span["id"]: n for n, span in enumerate(spans, start=1)}
    last = max([end or start, *(s["end_time"] or s["start_time"] for s in spans)], default=start)
    axis = max((last - start).total_seconds() * 1000, 1.0)

    rows: list[SpanRow] = []
    visited: set[str] = set()

    def row(span: Mapping[str, Any], depth: int) -> SpanRow:
        begin = millis(start, span["start_time"]) or 0.0
        length = millis(span["start_time"], span["end_time"])
        style = f"--d:{min(depth, 40)};--x:{_pct(max(begin, 0) / axis * 100)};--w:{_pct((length or 0) / axis * 100)}"
        ttft = millis(span["start_time"], span["completion_start_time"])
        if ttft is not None and length:
            style += f";--f:{_pct(min(max(ttft / length, 0), 1) * 100)}"
        return SpanRow(
            id=span["id"],
            type=span["type"],
            name=span["name"] or span["type"].lower(),
            depth=depth,
            seq=seq[span["id"]],
            has_children=span["id"] in children,
            is_error=span["level"] == "ERROR",
            is_warning=span["level"] == "WARNING",
            duration=duration_text(length),
            cost=cost_text(span["total_cost"]),
            style=style,
        )

    def walk(nodes: Iterable[Mapping[str, Any]]) -> None:
        # Iterative depth-first walk: a 2,000-deep chain must not hit Python's recursion limit.
        stack = [(node, 1) for node in reversed(list(nodes))]
        while stack:
            node, depth = stack.pop()
            if node["id"] in visited:
                continue
            visited.add(node["id"])
            rows.append(row(node, depth))
            stack.extend((child, depth + 1) for child in reversed(children.get(node["id"], [])))

    walk(roots)
    walk(span for span in spans if span["id"] not in visited)  # cycles: no root leads to them
    return rows, axis


_FOLD = '<button type="button" class="tg" aria-expanded="true" aria-label="Fold" tabindex="-1"></button>'


def waterfall_html(rows: Sequence[SpanRow], *, selected: str) -> SafeString:
    """The rows as `<li>` elements, one compact line each. Built here rather than in a template loop:
    for 2,000 spans the template engine costs several times more than these f-strings. Every value
    from the trace is escaped (names) or percent-encoded (ids in the link)."""
    lines = []
    for r in rows:
        level = " err" if r.is_error else " warn" if r.is_warning else ""
        current = ' aria-current="true"' if r.id == selected else ""
        numbers = "".join(f'<span class="du">{escape(text)}</span>' for text in (r.duration, r.cost) if text)
        lines.append(
            f'<li class="sp t-{escape(r.type)}{level}" style="{escape(r.style)}" data-seq="{r.seq}">'
            f"{_FOLD if r.has_children else ''}"
            f'<a href="?observation={escape(quote(r.id, safe=""))}"{current}>'
            f'<span class="tc"><span class="nm">{escape(r.name)}</span>{numbers}</span></a></li>'
        )
    return mark_safe("\n".join(lines))  # noqa: S308 - built from escaped values above


def axis_ticks(axis_ms: float, count: int = 4) -> list[tuple[str, str]]:
    """(left %, label) for evenly spaced ticks on the timeline axis."""
    return [(_pct(100 * n / count), duration_text(axis_ms * n / count)) for n in range(count + 1)]
