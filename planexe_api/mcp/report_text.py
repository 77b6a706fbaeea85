"""The HTML report as Markdown or plain text, for agents that cannot open HTML.

Made for the markup ``planexe/report`` writes (headings, paragraphs, lists,
definition lists, tables, an SVG Gantt chart whose bars carry ``<title>``
tooltips), with the standard library's parser: the report is our own output,
so a general converter (and its dependency) would buy nothing. Unknown
elements fall back to their text, so a change in the report loses layout,
never content. The table of contents and the stylesheet are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Literal

Format = Literal["markdown", "text"]

_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
_SKIP = frozenset({"head", "style", "script", "nav", "template"})
_INLINE = frozenset({"a", "span", "strong", "b", "em", "i", "code", "time", "small", "abbr", "sup", "sub"})
_SPACE = re.compile(r"\s+")


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[_Node | str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("root")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = _Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        # Close up to the matching element; a stray end tag is ignored.
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def _text(node: _Node | str) -> str:
    if isinstance(node, str):
        return node
    return "".join(_text(c) for c in node.children)


class _Renderer:
    def __init__(self, fmt: Format) -> None:
        self.md = fmt == "markdown"

    # ---- inline ----
    def inline(self, node: _Node | str) -> str:
        if isinstance(node, str):
            return _SPACE.sub(" ", node)
        if node.tag == "br":
            return " "
        if node.attrs.get("aria-hidden") == "true":
            return ""
        parts: list[str] = []
        after_element = False
        for child in node.children:
            piece = self.inline(child)
            is_element = isinstance(child, _Node)
            # Adjacent elements (<span>1</span>Title, <span>a</span><span>b</span>) read as
            # separate words; the page puts that space in with CSS.
            if (
                parts
                and piece
                and (is_element or after_element)
                and not parts[-1].endswith(" ")
                and not piece.startswith((" ", ".", ",", ";", ":", "!", "?", ")"))
            ):
                parts.append(" ")
            parts.append(piece)
            if piece:
                after_element = is_element
        text = "".join(parts)
        classes = node.classes
        if node.tag == "span" and "n" in classes:
            return f"{text.strip()}."
        if node.tag == "span" and "tag" in classes:
            return f"({text.strip()})"
        stripped = text.strip()
        if not stripped or not self.md:
            return text
        if node.tag in ("strong", "b"):
            return f"**{stripped}**"
        if node.tag in ("em", "i"):
            return f"*{stripped}*"
        if node.tag == "code":
            return f"`{stripped}`"
        href = node.attrs.get("href", "")
        if node.tag == "a" and href.startswith(("http://", "https://")):
            return f"[{stripped}]({href})"
        return text

    def line(self, node: _Node) -> str:
        return self.inline(node).strip()

    # ---- blocks ----
    def blocks(self, node: _Node) -> list[str]:
        """The node's content as a list of blocks (joined by blank lines)."""
        out: list[str] = []
        run: list[_Node | str] = []  # inline content between blocks

        def flush() -> None:
            text = self.line(_Node("p", children=list(run)))
            if text:
                out.append(text)
            run.clear()

        for child in node.children:
            if isinstance(child, str) or child.tag in _INLINE or child.tag == "br":
                run.append(child)
                continue
            flush()
            out.extend(self.block(child))
        flush()
        return out

    def block(self, node: _Node) -> list[str]:
        tag = node.tag
        if tag in _SKIP or node.attrs.get("aria-hidden") == "true":
            return []
        if re.fullmatch(r"h[1-6]", tag):
            title = self.line(node)
            if not title:
                return []
            if self.md:
                return [f"{'#' * int(tag[1])} {title}"]
            return [f"{title}\n{('=' if tag in ('h1', 'h2') else '-') * len(title)}"]
        if tag == "p":
            text = self.line(node)
            return [text] if text else []
        if tag in ("ul", "ol"):
            return self.items(node, ordered=tag == "ol")
        if tag == "dl":
            return self.definitions(node)
        if tag == "table":
            return self.table(node)
        if tag == "blockquote":
            inner = "\n\n".join(self.blocks(node))
            return ["\n".join(("> " + ln) if ln else ">" for ln in inner.splitlines())] if inner else []
        if tag == "svg":
            return self.chart(node)
        if tag == "summary":
            text = self.line(node)
            return [f"**{text}**" if self.md and text else text] if text else []
        if tag == "pre":
            code = _text(node).strip("\n")
            return [f"```\n{code}\n```" if self.md else code] if code else []
        if tag == "hr":
            return ["---"]
        if tag == "div" and "badges" in node.classes:
            names = [self.line(c) for c in node.children if isinstance(c, _Node)]
            text = "Made by: " + ", ".join(n for n in names if n)
            return [f"*{text}*" if self.md else text] if names else []
        return self.blocks(node)  # section, div, main, header, footer, figure, details, ...

    def _nest(self, lead: str, blocks: list[str], indent: int) -> str:
        """A list item: ``lead`` then the item's own blocks, indented under it."""
        pad = " " * indent
        text = "\n\n".join(blocks)
        lines = text.splitlines() or [""]
        first, rest = lines[0], lines[1:]
        return "\n".join([lead + first, *((pad + ln) if ln else "" for ln in rest)])

    def items(self, node: _Node, *, ordered: bool) -> list[str]:
        rendered = []
        items = [c for c in node.children if isinstance(c, _Node) and c.tag == "li"]
        for n, item in enumerate(items, start=1):
            lead = f"{n}. " if ordered else "- "
            rendered.append(self._nest(lead, self.blocks(item) or [""], len(lead)))
        return ["\n".join(rendered)] if rendered else []

    def definitions(self, node: _Node) -> list[str]:
        rendered: list[str] = []
        term = ""
        for child in node.children:
            if not isinstance(child, _Node):
                continue
            if child.tag == "dt":
                term = self.line(child)
            elif child.tag == "dd":
                label = f"**{term}**:" if self.md and term else f"{term}:" if term else ""
                body = self.blocks(child)
                if len(body) == 1 and "\n" not in body[0]:
                    rendered.append(f"- {label} {body[0]}".rstrip())
                else:
                    rendered.append(self._nest("- ", [label, *body] if label else body or [""], 2))
                term = ""
        return ["\n".join(rendered)] if rendered else []

    def table(self, node: _Node) -> list[str]:
        rows: list[tuple[bool, list[str]]] = []  # (is header row, cells)

        def walk(n: _Node) -> None:
            for child in n.children:
                if not isinstance(child, _Node):
                    continue
                if child.tag == "tr":
                    cells = [c for c in child.children if isinstance(c, _Node) and c.tag in ("td", "th")]
                    texts = [" ".join(self.blocks(c)).replace("\n", " ") for c in cells]
                    rows.append((all(c.tag == "th" for c in cells), texts))
                else:
                    walk(child)

        walk(node)
        if not rows:
            return []
        if rows[0][0]:
            header, body = rows[0][1], [r for _, r in rows[1:]]
        else:
            header, body = [], [r for _, r in rows]
        if not self.md:
            if not header:
                return ["\n".join(" | ".join(r) for r in body)]
            return ["\n".join("; ".join(f"{h}: {v}" for h, v in zip(header, r, strict=False)) for r in body)]
        width = max(len(header), *(len(r) for r in body)) if body else len(header)
        head = header + [""] * (width - len(header)) if header else [""] * width
        lines = ["| " + " | ".join(_cell(c) for c in head) + " |", "|" + " --- |" * width]
        for r in body:
            cells = r + [""] * (width - len(r))
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        return ["\n".join(lines)]

    def chart(self, node: _Node) -> list[str]:
        """An SVG chart as its caption and one line per element tooltip (the Gantt bars)."""
        titles: list[str] = []

        def walk(n: _Node) -> None:
            for child in n.children:
                if isinstance(child, _Node):
                    if child.tag == "title":
                        text = _SPACE.sub(" ", _text(child)).strip()
                        if text:
                            titles.append(text)
                    else:
                        walk(child)

        walk(node)
        if not titles:
            return []
        caption, bars = titles[0], titles[1:]
        out = [f"*{caption}*" if self.md else caption]
        if bars:
            out.append("\n".join(f"- {b}" for b in bars))
        return out


def _cell(text: str) -> str:
    return text.strip().replace("|", "\\|")


def report_as(html: str, fmt: Format) -> str:
    """The report's content as Markdown or plain text."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return "\n\n".join(_Renderer(fmt).blocks(builder.root)).strip() + "\n"
