"""Template.render's fast path (globals pre-merged, jinja2's render inlined) renders exactly what
jinja2's own Template.render does, errors included, with the sandbox still enforced."""

from __future__ import annotations

from typing import Any

import pytest

from alerter.rules import templates
from alerter.rules.templates import MAX_TEXT, Template, check_template

CTX = templates.context(
    {"ip": "1.2.3.4", "host": "web-1"}, 3.0, "SSHBruteForce", ["line 1", "line 2"], 1_700_000_000.0
)


def reference(text: str, ctx: dict[str, Any]) -> tuple[str, str | None]:
    """The render before the fast path: jinja2's Template.render in ENV."""
    try:
        return templates.ENV.from_string(text).render(ctx), None
    except Exception as e:
        msg = f"{type(e).__name__}: {e}"
        return f"<error expanding template: {msg}>", msg


@pytest.mark.parametrize(
    "text",
    [
        "{{ labels.ip }} failed {{ value }} SSH logins in 10m",
        "{{ value | humanize }} {{ 1536 | humanize_bytes }} {{ 90061 | humanize_duration }}",
        "{{ 0.1234 | humanize_percentage }} {{ (value / 7) | round(2) }} {{ value / 4 }}",
        "{% for e in examples %}[{{ e }}]{% endfor %} since {{ starts_at }} ({{ alertname }})",
        "{{ labels.missing }}|{{ labels.missing.deeper }}|{{ labels.get('host', 'x') }}",
        "{% set n = value * 2 %}{{ n }} {{ range(3) | list }} {{ cycler is defined }}",
        "{{ dict(a=1)['a'] }} {{ namespace is defined }} {{ lipsum is defined }}",
        "{{ labels.ip.format_map({}) }} {{ '%s-%s' % (alertname, value) }}",
        "{{ alertname }}: no trailing newline\n",
    ],
)
def test_renders_as_jinja2_does(text: str) -> None:
    t = templates.Template(text)
    assert t.render(CTX) == reference(text, CTX)
    assert t.render(CTX) == reference(text, CTX)  # the shared globals are not polluted


def test_the_context_overrides_a_global_of_the_same_name() -> None:
    t = templates.Template("{{ range }}")
    assert t.render({**CTX, "range": "mine"}) == ("mine", None)
    assert t.render(CTX) == reference("{{ range }}", CTX)


def test_the_callers_context_is_not_modified() -> None:
    ctx = dict(CTX)
    templates.Template("{% set value = 1 %}{{ value }}").render(ctx)
    assert ctx == CTX


@pytest.mark.parametrize(
    "text,error",
    [
        ("{{ 1 / (value - 3) }}", "ZeroDivisionError: float division by zero"),
        ("{{ 'x' | humanize }}", "ValueError: not a number: 'x'"),
        ("{{ labels.ip + 1 }}", None),
        ("{{ nothing() }}", None),
    ],
)
def test_a_failure_renders_the_same_marker_and_message(text: str, error: str | None) -> None:
    out, err = templates.Template(text).render(CTX)
    assert (out, err) == reference(text, CTX)
    assert err is not None and out == f"<error expanding template: {err}>"
    if error is not None:
        assert err == error


@pytest.mark.parametrize(
    "text",
    [
        "{{ labels.ip.__class__.__mro__[1].__subclasses__() }}",
        "{{ value.real.__class__.__subclasses__() }}",
        "{{ examples.__setitem__(0, 'x') }}",
        "{{ range(10 ** 9) | list | length }}",
        "{{ labels.ip.mro() }}",
    ],
)
def test_the_sandbox_refuses_unsafe_access_with_a_marker(text: str) -> None:
    out, err = templates.Template(text).render(CTX)
    assert (out, err) == reference(text, CTX)
    assert err is not None and out == f"<error expanding template: {err}>"


def test_the_sandbox_hides_unsafe_attributes_as_undefined() -> None:
    # The lenient run-time environment renders an unsafe attribute as an empty undefined.
    for text in (
        "{{ value.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ labels.__class__ }}",
    ):
        assert templates.Template(text).render(CTX) == ("", None) == reference(text, CTX)


def test_static_text_is_returned_as_is() -> None:
    t = templates.Template("plain {text}")
    assert t.is_static
    assert t.render(CTX) == ("plain {text}", None)


def test_rules_sharing_a_template_text_render_each_their_own_alert() -> None:
    """A template's text is compiled once and shared by every rule that writes it (a set of
    generated rules): no render sees another's context, or a failed one's."""
    text = "{{ labels.ip }} failed {{ value }} times{% set x = labels.ip %}"
    a, b = templates.Template(text), templates.Template(text)
    other = templates.context({"ip": "5.6.7.8"}, 9.0, "Other", [], 0.0)
    assert a.render(CTX) == ("1.2.3.4 failed 3 times", None)
    assert b.render(other) == ("5.6.7.8 failed 9 times", None)
    assert b.render({**CTX, "value": None})[0] == "1.2.3.4 failed None times"
    assert a.render(other) == ("5.6.7.8 failed 9 times", None)
    assert templates.check_template(text, CTX) is None
    assert templates.check_template("{{ labels.ipp }}", CTX) is not None  # (strict: a typo)
    assert templates.Template("{{ labels.ipp }}").render(CTX) == ("", None)  # (lenient)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{{ "x" * 50000000 }}', "SecurityError: a repeat past 65536 items"),
        ("{{ [1] * 100000 }}", "SecurityError: a repeat past 65536 items"),
        ("{{ 2 ** 100000 }}", "SecurityError: an integer power past 1000"),
    ],
)
def test_a_repeat_or_power_past_its_bound_is_refused_at_load(text: str, error: str) -> None:
    assert check_template(text, {}) == error
    assert check_template('{{ "ab" * 3 }} {{ 2 ** 10 }} {{ value * 1e6 }}', {"value": 3.0}) is None


def test_a_text_rendered_past_its_bound_is_cut_and_says_so() -> None:
    text, error = Template("{% for i in range(100000) %}xy{% endfor %}").render({})
    assert error is None and len(text) == MAX_TEXT + len(" [cut]") and text.endswith("xy [cut]")
