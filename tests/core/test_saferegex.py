"""core/saferegex.py and the RE2 side of it (core/re2translate.py, core/re2engine.py): each
construct Python's re and RE2 read differently, with a witness; what is refused and what the
message says; the match object; matchers (Alertmanager's dialect, RE2 only)."""

from __future__ import annotations

import pickle
import re

import pytest
import re2  # type: ignore[import-untyped]  # google-re2 ships no type hints

from alerter.core.re2engine import Re2Match
from alerter.core.saferegex import UnsafePatternError, compile_pattern, is_re2, python_in_re2
from alerter.core.yamlsource import SourceError
from alerter.rules.loader import load_rule_files
from alerter.rules.matchers import Matcher, compile_matcher_regex

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # re: "possible nested set"

_OPTS = re2.Options()
_OPTS.log_errors = False


def outcome(m: re.Match[str] | Re2Match | None) -> object:
    if m is None:
        return None
    return m.span(), [m.span(i) for i in range(1, m.re.groups + 1)], m.groupdict()


# (pattern, text): Python's re (with re.ASCII) and RE2 given the same text answer differently
WITNESSES = [
    ("a\\s", "a\v"),  # \s: re counts \v, RE2 does not
    ("a\\S", "a\v"),
    ("a$", "a\n"),  # $: re also before a final newline
    ("(?P<x>.+)$", "ab\n"),  # ... and the group stops there
    ("a{,2}b", "aab"),  # {,n}: a repeat in re, literal text in RE2
    ("(?i)k", "\u212a"),  # Kelvin sign: RE2 folds it to k, re.ASCII does not
    ("(?i)[^k]", "\u212a"),
    ("(?i)s", "\u017f"),  # long s
    ("(?i)\u00e9", "\u00c9"),  # re.ASCII folds A-Z only
    ("\\B", ""),  # RE2 matches the empty text
    ("x\\Z", "x"),  # \Z: RE2 has \z (and refuses \Z)
    ("(?x) a b # c", "ab"),  # verbose: RE2 has no (?x)
    ("(?#note)a", "a"),  # comments: RE2 has none
    ("\\N{LATIN SMALL LETTER A}", "a"),
    ("[\\b]", "\b"),  # backspace in a set
    ("\\u00e9", "\u00e9"),
]


@pytest.mark.parametrize(("pattern", "text"), WITNESSES)
def test_a_construct_the_engines_read_differently_means_in_re2_what_it_means_in_re(
    pattern: str, text: str
) -> None:
    want = outcome(re.compile(pattern, re.ASCII).search(text))
    try:
        raw = outcome(re2.compile(pattern, _OPTS).search(text))
    except re2.error:
        raw = "refused"
    assert raw != want  # the witness: RE2 alone reads it otherwise
    assert outcome(python_in_re2(pattern).search(text)) == want
    assert outcome(compile_pattern(pattern).search(text)) == want


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("\\d", "\u0663", False),  # ASCII classes, in both engines
        ("\\w", "\u00e9", False),
        ("\\s", "\xa0", False),
        ("\\bx", "\u00e9x", True),  # \u00e9 is not a word character: a boundary before x
        ("[[]a]", "[a]", True),  # a set of [ and a, then ]
        (".", "\n", False),
        ("(?s).", "\n", True),
        ("\\101\\0", "A\x00", True),  # octal escapes
        ("(?i)k", "K", True),  # ASCII letters fold
        ("(?i)[^k]", "K", False),
        ("(?i:[a-c])x", "Bx", True),
        ("(?i:[a-c])x", "BX", False),  # scoped
    ],
)
def test_the_python_dialect_is_read_with_re_ascii_in_both_engines(
    pattern: str, text: str, matches: bool
) -> None:
    assert (re.compile(pattern, re.ASCII).search(text) is not None) is matches
    assert (python_in_re2(pattern).search(text) is not None) is matches
    assert (compile_pattern(pattern).search(text) is not None) is matches


def test_a_log_line_has_no_final_newline_so_dollar_is_its_end() -> None:
    rx = compile_pattern(r"(?P<path>\S+) .*(?P<ms>\d+)ms$")  # not linear in re: RE2
    assert is_re2(rx)
    m = rx.search("GET /x took 12ms")
    assert m is not None and m.group("path") == "GET" and m.group("ms") == "2"
    assert rx.search("GET /x took 12ms and more") is None
    # a text ending in a newline (a multiline event whose last line is blank, a body): `$`
    # holds before it, as in re, and the match and its groups stop there
    m = rx.search("GET /x took 12ms\n")
    assert m is not None and m.span() == (0, 16) and m.group("ms") == "2"
    assert rx.search("GET /x took 12ms\n\n") is None
    assert rx.fullmatch("GET /x took 12ms\n") is None  # the whole text: not before its end
    assert rx.fullmatch("GET /x took 12ms") is not None


def test_groups_keep_their_numbers_when_a_dollar_adds_a_group_of_its_own() -> None:
    rx = python_in_re2(r"(a)(b$)|(c)(?P<d>d)")
    m = rx.search("cd")
    assert m is not None and m.groups() == (None, None, "c", "d") and m.group("d") == "d"
    m = rx.search("ab\n")
    assert m is not None and m.groups() == ("a", "b", None, None) and m.span(2) == (1, 2)


def test_an_empty_match_between_the_bytes_of_a_character_is_not_one() -> None:
    # RE2 steps bytes, and \B holds between the two bytes of \xa0; re never sees that place
    for pattern, text in ((r"\B|a", "0\xa00"), (r"\B", "\u00e9\u00e9"), (r"\Bx|\B", "\u20ac")):
        want = outcome(re.compile(pattern, re.ASCII).search(text))
        assert outcome(python_in_re2(pattern).search(text)) == want, pattern


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("[[:alpha:]]+", "`[:alpha:]` (at offset 1) is not a class in Python's re"),
        ("x[^[:space:]]", "write `\\s` in its place"),
        ("[[:alpha:]_]", "write `a-zA-Z` in its place"),
        ("(?u)\\w+", "(?u) is not supported"),
        ("(\\w+) \\1", "backreference (\\1 or (?P=name)) is not supported (at offset 6)"),
        ("a(?=b)", "lookaround"),
        ("a(?<!b)", "negative lookaround"),
        ("a++", "possessive quantifier"),
        ("(?>a)", "atomic group"),
        ("(a)?(?(1)b|c)", "conditional group"),
        ("a(", "invalid regex 'a(': missing ), unterminated subpattern at position 1"),
    ],
)
def test_what_no_engine_runs_is_refused_with_what_to_write(pattern: str, message: str) -> None:
    with pytest.raises(UnsafePatternError) as e:
        compile_pattern(pattern)
    assert message in str(e.value)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (".*a$\\n", "`$` (at offset 3) is followed by more of the pattern"),
        (".*a$\\n", "rewrite it as `\\Z` (the end of the text) or `(?m:$)`"),
        ("(a|b?)*c", "ends the repeat at an empty turn"),
        ("(?:x|)+y", "make the repeated part match at least one character"),
        ("(?:a|b){1001}c", "RE2 refuses the pattern"),
    ],
)
def test_what_re2_cannot_run_as_re_reads_it_is_refused_when_re2_must_run_it(
    pattern: str, message: str
) -> None:
    with pytest.raises(UnsafePatternError) as e:
        compile_pattern(pattern)
    assert message in str(e.value)
    assert "It runs in RE2 because Python's re could take more than linear time" in str(e.value)


def test_what_re2_cannot_run_is_fine_where_re_runs_it_in_linear_time() -> None:
    for pattern, text in (("a$\\n", "a\n"), ("(?:x|)y", "y")):
        rx = compile_pattern(pattern)
        assert not is_re2(rx) and rx.search(text) is not None


def test_alerter_check_points_at_the_pattern_and_says_what_to_write() -> None:
    text = (
        "groups:\n  - name: g\n    rules:\n      - alert: A\n"
        "        logs: {match: 'user=[[:alpha:]]+'}\n"
        "        aggregate: count\n        over: 5m\n        threshold: '> 1'\n"
        "      - alert: B\n"
        "        logs:\n          match: '.*(?P<x>\\w+)$ end'\n"
        "        aggregate: count\n        over: 5m\n        threshold: '> 1'\n"
    )
    with pytest.raises(SourceError) as e:
        load_rule_files([("r.yaml", text)], default_interval=15)
    problems = [str(p) for p in e.value.problems]
    assert len(problems) == 2, problems
    assert problems[0].startswith("r.yaml:5:23: match: `[:alpha:]` (at offset 6)"), problems
    assert "write `a-zA-Z` in its place" in problems[0]
    assert problems[1].startswith("r.yaml:11:18: match: `$` (at offset 12)"), problems
    assert "rewrite it as `\\Z`" in problems[1]


def test_re2_only_syntax_is_re2s_and_only_re2_runs_it() -> None:
    rx = compile_pattern(r"\pL+ failed\z")
    assert is_re2(rx)
    assert rx.search("Ölçek failed") is not None and rx.search("Ölçek failed\n") is None


def test_the_match_object_serves_what_the_engine_and_parsers_use() -> None:
    rx = python_in_re2(r"(?P<user>\w+)@(?P<host>[^ ]+)( x)?")
    m = rx.search("mail \u00e9 bob@h\u00f4te end")
    assert m is not None
    assert m.group() == m[0] == "bob@h\u00f4te" and m.span() == (7, 15)
    assert m.group("user", 2) == ("bob", "h\u00f4te") and m["host"] == "h\u00f4te"
    assert m.groups() == ("bob", "h\u00f4te", None) and m.groups("") == ("bob", "h\u00f4te", "")
    assert m.groupdict() == {"user": "bob", "host": "h\u00f4te"}
    assert (m.start("host"), m.end("host"), m.span(3)) == (11, 15, (-1, -1))
    assert m.string.startswith("mail") and m.re is rx
    with pytest.raises(IndexError):
        m.group("nope")
    with pytest.raises(IndexError):
        m.group(4)
    assert rx.groups == 3 and rx.groupindex == {"user": 1, "host": 2}


@pytest.mark.parametrize("rx", [python_in_re2(r"b\Z|^c"), python_in_re2(r"(?m)^c|\bd")])
def test_pos_and_endpos_are_read_as_python_reads_them(rx: re.Pattern[str]) -> None:
    py = re.compile(rx.pattern, re.ASCII)
    for text in ("abc", "a\nc", "cbd", "xd", "\u00e9bc\u00e9"):
        for pos in range(-1, len(text) + 2):
            for endpos in (None, *range(0, len(text) + 2)):
                want = outcome(
                    py.search(text, pos, endpos) if endpos is not None else py.search(text, pos)
                )
                got = outcome(
                    rx.search(text, pos, endpos) if endpos is not None else rx.search(text, pos)
                )
                assert got == want, (rx.pattern, text, pos, endpos)


def test_iteration_finds_what_re_finds_except_after_an_empty_match() -> None:
    rx = python_in_re2(r"(\d+)|x")
    assert rx.findall("1 x 23 \u00e9 4") == re.findall(r"(\d+)|x", "1 x 23 \u00e9 4", re.ASCII)
    assert [m.span() for m in rx.finditer("a1b22")] == [(1, 2), (3, 5)]


def test_a_lone_surrogate_is_read_as_u_fffd_and_given_back_as_it_was() -> None:
    rx = python_in_re2(r"(?P<v>[^a]+)\Z")
    m = rx.search("a\ud800b")
    assert m is not None and m.group("v") == "\ud800b"


def test_an_re2_pattern_pickles_for_the_scan_helper() -> None:
    for rx in (python_in_re2(r"(?P<x>a)(b$)|\B"), compile_pattern(r"\pL+")):
        back = pickle.loads(pickle.dumps(rx))
        assert is_re2(back) and back.pattern == rx.pattern
        for text in ("ab\n", "", "x\u00e9"):
            assert outcome(back.search(text)) == outcome(rx.search(text))


# matchers: Alertmanager's dialect


@pytest.mark.parametrize(
    "value", ["web.*", "a|b", "db[0-9]+", "", "x", "[[:alpha:]]+", "\\pL+", "(?i)k", "a\\s"]
)
def test_a_matcher_regex_runs_in_re2_only_anchored_as_alertmanager_anchors_it(value: str) -> None:
    m = Matcher.create("x", "=~", value)
    assert is_re2(m.regex) and m.regex is not None and m.regex.pattern == f"^(?:{value})$"


@pytest.mark.parametrize(
    ("value", "label", "matches"),
    [
        ("a|b", "a", True),
        ("a|b", "ab", False),  # fully anchored
        ("web.*", "web\nx", False),  # `.` is not a newline in Go, unless (?s)
        ("(?s)web.*", "web\nx", True),
        ("a\\s", "a\v", False),  # RE2's \s
        ("(?i)k", "\u212a", True),  # RE2 folds the Kelvin sign
        ("[[:alpha:]]+", "ab", True),  # a POSIX class
        ("a{,2}", "a{,2}", True),  # literal text in RE2
        ("[^k]", "\ud800", True),  # a lone surrogate as U+FFFD
        ("", "", True),
    ],
)
def test_a_matcher_regex_means_what_it_means_to_alertmanager(
    value: str, label: str, matches: bool
) -> None:
    assert Matcher.create("x", "=~", value).matches({"x": label}) is matches
    assert Matcher.create("x", "!~", value).matches({"x": label}) is not matches


def test_a_matcher_value_must_be_a_regex_on_its_own() -> None:
    # Alertmanager pastes it into ^(?:...)$ unchecked: `a)|(b` would mean "starts with a or
    # ends with b" there; here it is refused
    with pytest.raises(
        ValueError, match="invalid regex in matcher x=~'a\\)\\|\\(b': unexpected \\)"
    ):
        Matcher.create("x", "=~", "a)|(b")
    with pytest.raises(ValueError, match="matchers use Go's RE2 syntax"):
        compile_matcher_regex("(?<=a)b")


def test_matchers_with_the_same_regex_are_equal_as_they_were_in_re() -> None:
    a, b = Matcher.create("x", "=~", "web.*"), Matcher.create("x", "=~", "web.*")
    assert a == b and hash(a) == hash(b) and a != Matcher.create("x", "=~", "web")
    assert len({a, b, Matcher.create("x", "!~", "web.*")}) == 2


def test_a_matcher_keeps_its_answers_for_short_values_and_a_bounded_number_of_them() -> None:
    m = Matcher.create("x", "!~", "web.*")
    assert not m.matches({"x": "web1"}) and not m.matches({"x": "web1"})
    assert m.seen == {"web1": True}  # the regex's answer; the operator applied after
    long_value = "web" + "x" * 300
    assert not m.matches({"x": long_value}) and long_value not in m.seen
    for i in range(5000):
        assert m.matches({"x": f"db{i}"})
    assert 0 < len(m.seen) <= 1024
