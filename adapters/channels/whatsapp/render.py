"""WhatsApp's formatting for an agent's Markdown: *bold*, _italic_, ~strike~, ```mono```."""

from __future__ import annotations

from adapters.text.markdown import MarkdownStyle, render_markdown

# WhatsApp has no escape syntax, so plain text goes through unchanged. Headings become a bold
# line because WhatsApp has no heading size; "> " is WhatsApp's own quote syntax.
WHATSAPP = MarkdownStyle(
    bold="*",
    italic="_",
    strikethrough="~",
    code="```",
    code_block_open="```",
    code_block_close="```",
    heading="*",
)


def render_whatsapp(text: str) -> str:
    """An agent's Markdown reply as WhatsApp shows it."""
    return render_markdown(text, WHATSAPP)
