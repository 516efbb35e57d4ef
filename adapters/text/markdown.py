"""Render an agent's Markdown for a messaging medium from markdown-it-py's syntax tree."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode


def _keep(text: str) -> str:
    return text


@dataclass(frozen=True)
class MarkdownStyle:
    """How one medium shows each construct; an empty marker means "just the text"."""

    bold: str = ""
    italic: str = ""
    strikethrough: str = ""
    code: str = ""  # around inline code
    code_block_open: str = ""  # a line of its own before a fenced or indented block
    code_block_close: str = ""
    heading: str = ""  # around the heading's text, on a line of its own
    link: str = "{text} ({url})"  # used only when the text differs from the url
    thematic_break: str = "---"
    bullet: str = "- "
    number: str = "{}. "
    quote: str = "> "
    escape: Callable[[str], str] = _keep  # applied to text runs and shown urls, never to code


PLAIN = MarkdownStyle()

# html=False keeps raw HTML literal. Reference definitions are disabled because they vanish
# from the output ("[1]: https://..." footnotes are words the reader should still see).
_MD = MarkdownIt("commonmark", {"html": False}).enable("strikethrough").disable("reference")
_MARKERS = {"strong": "bold", "em": "italic", "s": "strikethrough"}


def render_markdown(text: str, style: MarkdownStyle) -> str:
    """`text` as `style` shows it; the input unchanged if it cannot be rendered safely."""
    try:
        tokens = _MD.parse(text)
        if _too_deep(tokens):
            return text
        lines = _blocks(SyntaxTreeNode(tokens).children, style, gap=True)
    except Exception:  # lone surrogates in urls, RecursionError on deep emphasis: never fail
        return text
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines).rstrip()


def _too_deep(tokens: list[Token]) -> bool:
    """Nesting markdown-it cut short, or emphasis deep enough to make the tree slow to build."""
    limit = _MD.options.maxNesting
    # Past maxNesting markdown-it silently skips the rest of the document, dropping its words.
    if any(token.level >= limit - 1 for token in tokens):
        return True
    for token in tokens:
        depth = 0
        for child in token.children or []:
            depth += child.nesting
            if depth > limit:
                return True
    return False


def _blocks(nodes: Sequence[SyntaxTreeNode], style: MarkdownStyle, gap: bool) -> list[str]:
    """Blocks one after another, with a blank line between them when `gap`."""
    lines: list[str] = []
    for node in nodes:
        block = _block(node, style)
        if not "".join(block).strip():  # an empty code block in PLAIN: no stray blank lines
            continue
        if lines and gap:
            lines.append("")
        lines.extend(block)
    return lines


def _block(node: SyntaxTreeNode, style: MarkdownStyle) -> list[str]:
    kind = node.type
    if kind == "paragraph":
        return _inline(node.children[0].children, style).split("\n")
    if kind == "heading":
        body = _inline(node.children[0].children, style, frozenset({style.heading}))
        return f"{style.heading}{body}{style.heading}".split("\n")
    if kind in ("fence", "code_block"):
        # The fence's info string (language) is a marker too: chat apps cannot highlight.
        code = node.content.removesuffix("\n").split("\n") if node.content else []
        head = [style.code_block_open] if style.code_block_open else []
        tail = [style.code_block_close] if style.code_block_close else []
        return head + code + tail
    if kind == "hr":
        return [style.thematic_break]
    if kind == "blockquote":
        return [(style.quote + line).rstrip() for line in _blocks(node.children, style, gap=True)]
    if kind in ("bullet_list", "ordered_list"):
        return _list(node, style)
    # A block type this module does not know: keep its words rather than lose them.
    if node.children:
        return _blocks(node.children, style, gap=True)
    return node.content.split("\n") if node.content else []


def _list(node: SyntaxTreeNode, style: MarkdownStyle) -> list[str]:
    """One item per line, tight or loose; an item's other lines (and sublists) indent by 2."""
    start = int(node.attrs.get("start", 1))
    lines: list[str] = []
    for index, item in enumerate(node.children):
        marker = style.bullet if node.type == "bullet_list" else style.number.format(start + index)
        body = _blocks(item.children, style, gap=False) or [""]
        lines.append((marker + body[0]).rstrip())
        lines.extend(f"  {line}".rstrip() for line in body[1:])
    return lines


def _inline(
    nodes: Sequence[SyntaxTreeNode], style: MarkdownStyle, open_: frozenset[str] = frozenset()
) -> str:
    """Inline content; `open_` holds the markers already around it."""
    parts: list[str] = []
    for node in nodes:
        kind = node.type
        if kind == "text":
            parts.append(style.escape(node.content))
        elif kind in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif kind == "code_inline":
            parts.append(f"{style.code}{node.content}{style.code}")
        elif kind in _MARKERS:
            marker = getattr(style, _MARKERS[kind])
            inner = _inline(node.children, style, open_ | {marker})
            # Repeating an open marker (bold inside a bold heading) would close it early.
            parts.append(inner if marker in open_ else f"{marker}{inner}{marker}")
        elif kind in ("link", "image"):
            target = node.attrs.get("href" if kind == "link" else "src", "")
            label = _inline(node.children, style, open_)
            plain = "".join(leaf.content for leaf in node.walk() if not leaf.children)
            parts.append(_link(label, plain, str(target), str(node.attrs.get("title", "")), style))
        else:  # an unknown inline token: its text survives
            parts.append(_inline(node.children, style, open_) or style.escape(node.content))
    return "".join(parts)


def _link(label: str, plain: str, target: str, title: str, style: MarkdownStyle) -> str:
    """`label (url)`, or just one of them when the other adds nothing."""
    url = _MD.normalizeLinkText(target)  # undo the percent-encoding markdown-it applied
    if not url:
        return label
    if not plain or plain in (url, url.removeprefix("mailto:")):  # autolinks, bare urls
        return label or style.escape(url)
    shown = f'{url} "{title}"' if title else url  # a title is words too: keep it
    return style.link.format(text=label, url=style.escape(shown))
