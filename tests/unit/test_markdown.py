"""Markdown rendering for messaging media: WhatsApp's markers, PLAIN text, and robustness."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.channels.whatsapp.render import WHATSAPP, render_whatsapp
from adapters.text.markdown import PLAIN, MarkdownStyle, render_markdown


def plain(text: str) -> str:
    return render_markdown(text, PLAIN)


# --- WhatsApp -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("**bold**", "*bold*"),
        ("__bold__", "*bold*"),
        ("*italic*", "_italic_"),
        ("_italic_", "_italic_"),
        ("~~strike~~", "~strike~"),
        ("`code`", "```code```"),
        ("***both***", "_*both*_"),
        ("**bold with *italic* inside**", "*bold with _italic_ inside*"),
        ("a **b** c", "a *b* c"),
    ],
)
def test_whatsapp_inline_markers(markdown: str, expected: str) -> None:
    assert render_whatsapp(markdown) == expected


def test_whatsapp_fenced_code_keeps_its_lines_inside_fences_of_their_own() -> None:
    markdown = "Run:\n\n```python\nx = 1\n  y = **2**\n```\n\nDone."
    assert render_whatsapp(markdown) == "Run:\n\n```\nx = 1\n  y = **2**\n```\n\nDone."


def test_whatsapp_indented_code_block_is_fenced_too() -> None:
    assert render_whatsapp("Text\n\n    a = 1\n    b = 2") == "Text\n\n```\na = 1\nb = 2\n```"


@pytest.mark.parametrize("hashes", ["#", "##", "###", "######"])
def test_whatsapp_heading_is_a_bold_line(hashes: str) -> None:
    assert render_whatsapp(f"{hashes} Heading\nBody") == "*Heading*\n\nBody"


def test_whatsapp_setext_heading_is_a_bold_line() -> None:
    assert render_whatsapp("Title\n=====\n\nBody") == "*Title*\n\nBody"


def test_bold_inside_a_whatsapp_heading_does_not_close_the_heading_early() -> None:
    assert render_whatsapp("# The **big** news") == "*The big news*"


def test_whatsapp_link_is_text_then_url() -> None:
    assert render_whatsapp("See [the docs](https://example.com/docs).") == (
        "See the docs (https://example.com/docs)."
    )


def test_whatsapp_link_text_keeps_its_formatting() -> None:
    assert render_whatsapp("[**docs**](https://example.com)") == "*docs* (https://example.com)"


def test_whatsapp_lists_stay_lines() -> None:
    markdown = "* one\n+ two\n\n1. first\n2. second"
    assert render_whatsapp(markdown) == "- one\n\n- two\n\n1. first\n2. second"


def test_whatsapp_list_items_keep_their_formatting() -> None:
    assert render_whatsapp("- **a**\n- `b`") == "- *a*\n- ```b```"


# --- PLAIN -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("**bold** __bold__", "bold bold"),
        ("*italic* _italic_", "italic italic"),
        ("~~strike~~", "strike"),
        ("`x = 1`", "x = 1"),
        ("# Heading", "Heading"),
        ("## **Bold** heading", "Bold heading"),
        ("```sh\nls -la\n```", "ls -la"),
        ("    indented", "indented"),
    ],
)
def test_plain_removes_every_marker(markdown: str, expected: str) -> None:
    assert plain(markdown) == expected


@pytest.mark.parametrize("style", [PLAIN, WHATSAPP], ids=["plain", "whatsapp"])
@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("[text](https://a.example/x)", "text (https://a.example/x)"),
        ("<https://a.example/x>", "https://a.example/x"),
        ("[https://a.example](https://a.example)", "https://a.example"),
        ("<someone@example.com>", "someone@example.com"),
        ("[text](https://a.example/%C3%A9t%C3%A9)", "text (https://a.example/été)"),
        ('[text](https://a.example "Title")', 'text (https://a.example "Title")'),
        ("[](https://a.example)", "https://a.example"),
        ("![a cat](https://a.example/cat.png)", "a cat (https://a.example/cat.png)"),
        ("![](https://a.example/cat.png)", "https://a.example/cat.png"),
    ],
)
def test_links_and_images(style: MarkdownStyle, markdown: str, expected: str) -> None:
    assert render_markdown(markdown, style) == expected


@pytest.mark.parametrize("style", [PLAIN, WHATSAPP], ids=["plain", "whatsapp"])
@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("- a\n- b\n- c", "- a\n- b\n- c"),
        ("1. a\n2. b", "1. a\n2. b"),
        ("1. a\n1. b\n1. c", "1. a\n2. b\n3. c"),
        ("3. a\n4. b", "3. a\n4. b"),
        ("0. a\n1. b", "0. a\n1. b"),
        ("- a\n  - b\n    - c\n- d", "- a\n  - b\n    - c\n- d"),
        ("1. a\n   - b\n2. c", "1. a\n  - b\n2. c"),
        ("- a\n\n- b\n\n- c", "- a\n- b\n- c"),  # loose: still one item per line
        ("- a\n\n  more of a\n- b", "- a\n  more of a\n- b"),
        ("- a\ncontinued", "- a\n  continued"),
        ("-\n- b", "-\n- b"),
        ("Intro:\n- a\n- b\n\nAfter.", "Intro:\n\n- a\n- b\n\nAfter."),
    ],
)
def test_lists(style: MarkdownStyle, markdown: str, expected: str) -> None:
    assert render_markdown(markdown, style) == expected


@pytest.mark.parametrize("style", [PLAIN, WHATSAPP], ids=["plain", "whatsapp"])
@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("one\n\n\n\ntwo", "one\n\ntwo"),
        ("one\ntwo", "one\ntwo"),  # soft break
        ("one  \ntwo", "one\ntwo"),  # hard break (two spaces)
        ("one\\\ntwo", "one\ntwo"),  # hard break (backslash)
        ("\n\n  text  \n\n\n", "text"),
        ("", ""),
        ("   \n\n  ", ""),
        ("> quoted\n> still", "> quoted\n> still"),
        ("> a\n>\n> b", "> a\n>\n> b"),
        ("> outer\n>> inner", "> outer\n>\n> > inner"),
        ("above\n\n---\n\nbelow", "above\n\n---\n\nbelow"),
        ("above\n\n***\n\nbelow", "above\n\n---\n\nbelow"),
    ],
)
def test_blocks_and_breaks(style: MarkdownStyle, markdown: str, expected: str) -> None:
    assert render_markdown(markdown, style) == expected


@pytest.mark.parametrize("style", [PLAIN, WHATSAPP], ids=["plain", "whatsapp"])
def test_a_table_stays_text(style: MarkdownStyle) -> None:
    table = "| a | b |\n|---|---|\n| 1 | 2 |"
    assert render_markdown(table, style) == table


@pytest.mark.parametrize("style", [PLAIN, WHATSAPP], ids=["plain", "whatsapp"])
@pytest.mark.parametrize(
    "html", ["<b>x</b>", "<script>alert(1)</script>", "<div>\nblock\n</div>", "a <br> b"]
)
def test_html_stays_literal(style: MarkdownStyle, html: str) -> None:
    assert render_markdown(html, style) == html


@pytest.mark.parametrize("style", [PLAIN, WHATSAPP], ids=["plain", "whatsapp"])
def test_reference_definitions_stay_visible(style: MarkdownStyle) -> None:
    text = "Sources [1]\n\n[1]: https://a.example"
    assert render_markdown(text, style) == text


def test_backslash_escapes_and_entities_become_the_characters() -> None:
    assert render_whatsapp(r"2 \* 3 \_not italic\_ &amp; co") == "2 * 3 _not italic_ & co"


def test_escape_applies_to_text_and_urls_but_not_code() -> None:
    shout = MarkdownStyle(code="`", escape=str.upper)
    assert render_markdown("say `hi` to [bob](b.example)", shout) == "SAY `hi` TO BOB (B.EXAMPLE)"


def test_the_style_is_frozen() -> None:
    with pytest.raises(AttributeError):
        WHATSAPP.bold = "**"  # type: ignore[misc]


# --- Robustness --------------------------------------------------------------------------


@pytest.mark.parametrize("style", [PLAIN, WHATSAPP], ids=["plain", "whatsapp"])
@pytest.mark.parametrize(
    "text",
    [
        "> " * 60 + "deep words",
        "- " * 60 + "deep words",
        "1. " * 60 + "deep words",
        "*" * 3000 + "deep words" + "*" * 3000,
        "**a " * 3000 + "deep words" + " b**" * 3000,
    ],
)
def test_too_deep_nesting_returns_the_input_unchanged(style: MarkdownStyle, text: str) -> None:
    assert render_markdown(text, style) == text


def test_many_brackets_keep_their_words() -> None:
    # A link cannot contain a link, so only the innermost one is a link; the rest is text.
    text = "[" * 3000 + "deep words" + "](u)" * 3000
    assert plain(text) == "[" * 2999 + "deep words (u)" + "](u)" * 2999


@pytest.mark.parametrize("style", [PLAIN, WHATSAPP], ids=["plain", "whatsapp"])
@pytest.mark.parametrize(
    "text", ["\ud800", "**\udfff**", "[x](\ud800)", "<https://\udc00.example>", "`\ud83d`"]
)
def test_lone_surrogates_do_not_raise(style: MarkdownStyle, text: str) -> None:
    assert isinstance(render_markdown(text, style), str)


def test_nul_does_not_raise_and_the_words_survive() -> None:
    # CommonMark replaces NUL with U+FFFD; the words either side are kept.
    result = render_whatsapp("before\x00after **x\x00**")
    assert result.startswith("before") and "after" in result


# --- Properties ---------------------------------------------------------------------------

MARKDOWN_PUNCTUATION = st.sampled_from(list("*_~`[]()<>!#-+.:|\\&;\"' \n\t"))
ANY_TEXT = st.text(
    st.characters() | st.characters(categories=["Cs"]) | MARKDOWN_PUNCTUATION, max_size=200
)
LETTERS_DIGITS = st.characters(categories=["L", "Nd"])


def normalised(text: str) -> str:
    return " ".join(text.split())


def alphanumerics(text: str) -> str:
    return "".join(char for char in text if char.isalnum())


def is_subsequence(needle: str, haystack: str) -> bool:
    remaining = iter(haystack)
    return all(char in remaining for char in needle)


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_never_raises_and_returns_a_str(text: str) -> None:
    for style in (PLAIN, WHATSAPP):
        assert isinstance(render_markdown(text, style), str)


@settings(deadline=None)
@given(st.text(LETTERS_DIGITS | st.sampled_from([" ", "\n"])))
def test_plain_leaves_words_and_spaces_as_they_were(text: str) -> None:
    assert normalised(plain(text)) == normalised(text)


@settings(deadline=None)
@given(st.lists(st.text(LETTERS_DIGITS, min_size=1)).map(" ".join))
def test_whatsapp_leaves_words_and_spaces_as_they_were(text: str) -> None:
    assert render_whatsapp(text) == text


def without_fences(text: str) -> str:
    """No 3 backticks or tildes in a row: a fence's info string ("```py") is dropped on purpose."""
    return re.sub(r"([`~])\1\1+", r"\1\1", text)


# "&" is left out: entities ("&amp;") become the character they name.
WORDS_AND_MARKERS = st.text(
    LETTERS_DIGITS | st.sampled_from(list("*_~`[]()<>!#-+.:|\\\"' \n\t")), max_size=200
).map(without_fences)


@settings(max_examples=300, deadline=None)
@given(WORDS_AND_MARKERS)
def test_every_letter_and_digit_survives_in_order(text: str) -> None:
    for style in (PLAIN, WHATSAPP):
        assert is_subsequence(alphanumerics(text), alphanumerics(render_markdown(text, style)))
