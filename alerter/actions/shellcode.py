"""Which argument of a command action's argv is code for an interpreter (`sh -c SCRIPT`,
`python3 -c CODE`, `perl -e CODE`, `env bash -c SCRIPT`, ...).

A template there would put log text, which anyone who can log writes, into a program: a user
name `x;touch /tmp/pwned;` in `[sh, -c, "fix {{ labels.user }}"]` runs `touch`. The config
refuses that and says to pass the value as an argument of its own (`[sh, -c, 'fix "$1"', sh,
"{{ labels.user }}"]`), where it stays data.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

SHELLS = frozenset(
    {"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash", "fish", "csh", "tcsh"}
)
# interpreter -> its options whose next argument is code
INTERPRETERS = {
    "python": ("-c",),
    "perl": ("-e", "-E"),
    "ruby": ("-e",),
    "node": ("-e", "--eval", "-p", "--print"),
    "php": ("-r",),
    "lua": ("-e",),
}  # (awk's program is its first operand: below)
_VERSIONED = re.compile(r"(python|perl|ruby|lua|php|node)[\d.]*$")
_SHELL_C = re.compile(r"-[a-zA-Z]*c[a-zA-Z]*$")  # -c, -ec, -xc: the first operand is the script


def code_argument(argv: Sequence[str]) -> int | None:
    """The index of the argument an interpreter runs as code, or None. `env` (and its options
    and NAME=value settings) and `busybox sh` are looked through."""
    i = 0
    name = os.path.basename(argv[0]) if argv else ""
    if name == "env":
        i = 1
        while i < len(argv) and (argv[i].startswith("-") or "=" in argv[i]):
            i += 1
        if i >= len(argv):
            return None
        name = os.path.basename(argv[i])
    if name == "busybox" and i + 1 < len(argv):
        i += 1
        name = argv[i]
    m = _VERSIONED.match(name)
    base = m.group(1) if m else name
    args = argv[i + 1 :]
    if base in SHELLS:
        for j, a in enumerate(args):
            if a == "--" or not a.startswith("-"):
                return None  # a script file first: its arguments are data
            if _SHELL_C.match(a):
                return i + 1 + j + 1 if j + 1 < len(args) else None
        return None
    if base in ("awk", "gawk", "mawk"):  # the first operand is the program, unless -f gives it
        j = 0
        while j < len(args):
            a = args[j]
            if a in ("-f", "--file") or a.startswith("-f"):
                return None
            if a in ("-v", "-F", "--assign", "--field-separator"):
                j += 2  # an option with its value
                continue
            if a == "--":
                return i + 1 + j + 1 if j + 1 < len(args) else None
            if not a.startswith("-"):
                return i + 1 + j
            j += 1
        return None
    flags = INTERPRETERS.get(base)
    if flags:
        for j, a in enumerate(args):
            if a in flags:
                return i + 1 + j + 1 if j + 1 < len(args) else None
            if not a.startswith("-"):
                return None  # a script file: what follows is its arguments
    return None
