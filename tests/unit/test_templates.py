"""Rule messages: `check` refuses a template it could not fill, and filling one never raises, whatever it says."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.text import SAY_PLACEHOLDERS, fill, template_problem

VALUES = {name: f"<{name}>" for name in SAY_PLACEHOLDERS}


def test_the_placeholders_are_filled_and_doubled_braces_are_literal() -> None:
    assert template_problem("{ref} is {severity}: {title} {{not a field}}") is None
    assert fill("{ref} is {severity}: {title} {{not a field}}", VALUES) == "<ref> is <severity>: <title> {not a field}"


def test_each_bad_template_is_refused_in_words() -> None:
    assert template_problem("smile :-} {ref}") == "has a lone '{' or '}'; write '{{' or '}}' for a literal brace"
    assert template_problem("{ref") == "has a lone '{' or '}'; write '{{' or '}}' for a literal brace"
    assert template_problem("{0}").startswith("{0} is not a placeholder; use {ref}")
    assert template_problem('{"ok": false}').startswith('{"ok"} is not a placeholder')
    assert template_problem("{ref.__class__}").startswith("{ref.__class__} is not a placeholder")
    assert template_problem("{ref:>99999999999}") == "{ref} takes no format or conversion; write just {ref}"
    assert template_problem("{title!r}") == "{title} takes no format or conversion; write just {title}"


def test_a_template_that_slipped_past_check_renders_as_written() -> None:
    assert fill("smile :-} {ref}", VALUES) == "smile :-} {ref}"
    assert fill("{ref:>99999999999} {title}", VALUES) == "{ref:>99999999999} <title>"


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet=st.sampled_from("{}:!.[]0ab rtef") | st.characters(), max_size=60))
def test_filling_never_raises_and_a_clean_template_fills_as_str_format_does(template: str) -> None:
    text = fill(template, VALUES)
    assert len(text) <= len(template) * 12 + 10  # bounded: no format spec can blow it up
    if template_problem(template) is None:  # a clean template fills exactly as Python's own str.format would
        assert text == template.format(**VALUES)
