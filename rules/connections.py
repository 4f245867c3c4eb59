"""How many events a counted line stands for (`weight`), and the state a count rule keeps per
connection (`connection`): the address one line of a connection tells, for another line of the
same connection that does not say it.

sshd writes some failures without the peer's address (`Disconnecting: Too many authentication
failures for root [preauth]`, `User root not allowed because account is locked`); the same
process (its pid: the connection) names the address in another line, before
(`Connection from 192.0.2.1 port 51353`) or after (`Connection closed by 192.0.2.1 [preauth]`).
A line's text never names the connection: the id is sshd's pid from the syslog header or the
journal's _PID, so a client cannot point its failures at another connection's address.

`Attempts` (a count rule's `attempts`) judges lines that name their own address but count
depending on other lines of their connection: one attempt sshd logs twice (auth-pam.c's
`error: PAM: ... for U from H`, then auth.c's `Failed keyboard-interactive/pam for U from H
...` of the same attempt) counts once; a line that is no failure by itself (pam_unix's
`authentication failure` that another PAM module overrode, an `Accepted` login) counts when its
connection has named two users (fail2ban's check for a client switching users to wipe its
failures with a login).

A pid is reused: sshd's next connection in the same process id is another peer's. A line naming
another address than the one its connection's lines named starts a new connection (one sshd
process serves one peer), as does a line after one that ends its connection (`ends`), or after
`ttl` seconds (`within` for `Attempts`) of silence. Else a client's pending failures, or its
user names, would count for the next connection in that pid: the admin's own login among them.

Pure: the caller passes the time; the state is bounded (the least recently seen connections
are dropped past `limit`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

Key = tuple[str, ...]
MAX_WEIGHT = 1_000_000


def weight_of(text: str) -> int:
    """The events a line stands for: a whole number from 1 to MAX_WEIGHT, else 1."""
    if not (text.isascii() and text.isdigit()) or len(text) > 7:
        return 1
    n = int(text)
    return n if 1 <= n <= MAX_WEIGHT else 1


@dataclass(slots=True)
class _Conn:
    seen: float
    key: Key | None = None  # the address this connection's lines count for, once told
    pending: int = 0  # events of lines that came before the address was told
    lines: list[str] = field(default_factory=list)  # their lines (the last few)


@dataclass(slots=True)
class Connections:
    limit: int = 10_000
    ttl: float = 3600.0
    keep_lines: int = 3
    _conns: OrderedDict[str, _Conn] = field(default_factory=OrderedDict)

    def see(
        self, conn: str, key: Key | None, n: int, line: str, now: float, ends: bool = False
    ) -> list[tuple[Key, int, tuple[str, ...]]]:
        """A line of connection `conn`: the key it names (None: none), the events it stands
        for (0: it only tells the key); `ends`: the connection's last line (what it resolves
        counts, then its state is dropped). Returns what to count now, as (key, events,
        lines)."""
        if not conn:  # no connection id: the line stands alone
            return [(key, n, (line,))] if key is not None and n else []
        c = self._conns.get(conn)
        if (
            c is None
            or now - c.seen > self.ttl
            or (key is not None and c.key is not None and key != c.key)  # another peer
        ):
            c = self._conns[conn] = _Conn(now)
            if len(self._conns) > self.limit:
                self._conns.popitem(last=False)
        else:
            c.seen = now
            self._conns.move_to_end(conn)
        out: list[tuple[Key, int, tuple[str, ...]]] = []
        if key is not None:
            c.key = key
            if c.pending:
                out.append((key, c.pending, tuple(c.lines)))
                c.pending, c.lines = 0, []
        if n:
            if c.key is not None:
                out.append((c.key, n, (line,)))
            else:
                c.pending += n
                keep = self.keep_lines
                c.lines = [*c.lines[-(keep - 1) :], line] if keep > 1 else [line]
        if ends:
            del self._conns[conn]
        return out

    def __len__(self) -> int:
        return len(self._conns)


@dataclass(frozen=True, slots=True)
class AttemptSpec:
    """A count rule's `attempts` (regex group names; `id` may be a field). A line where one
    of the `address` groups matched is judged here, and counts for that address or nothing:

    - `same_attempt` ((second, first), ...): a line where `second` matched, when the last
      line of its connection where a `first` or `second` group matched was a `first` line,
      is the same attempt as that line: it counts nothing (sshd logs the PAM line first);
    - `other_user`: a line where one of these matched counts only when the lines of its
      connection judged here have named two users or more (`user`: the first of these
      groups that is not empty);
    - `ends`: a line where one of these matched is its connection's last (its state is
      dropped; a connection with no state gets none from it);
    - `within`: a connection none of whose lines came for this many seconds is forgotten
      (an sshd pid is reused; sshd's LoginGraceTime, 2 minutes by default, bounds the
      authentication a connection's lines belong to)."""

    id: str
    address: tuple[str, ...]
    user: tuple[str, ...] = ()
    same_attempt: tuple[tuple[str, str], ...] = ()
    other_user: tuple[str, ...] = ()
    ends: tuple[str, ...] = ()
    within: float = 120.0

    @property
    def groups(self) -> tuple[str, ...]:
        """The regex groups it reads (all but `id`)."""
        pairs = tuple(g for p in self.same_attempt for g in p)
        return (*self.address, *self.user, *pairs, *self.other_user, *self.ends)


Group = Callable[[str], "str | None"]  # a match's group by name (re.Match.group)


@dataclass(slots=True)
class _Attempt:
    seen: float
    address: str  # its peer: a line naming another is another connection (a reused pid)
    user: str = ""  # the first user named
    many: bool = False  # another user was named too
    open: str = ""  # the `first` group of the last pairing line, when it was a `first`


@dataclass(slots=True)
class Attempts:
    spec: AttemptSpec
    limit: int = 10_000
    _conns: OrderedDict[str, _Attempt] = field(default_factory=OrderedDict)

    def address(self, group: Group) -> str | None:
        """The address a line names in one of the `address` groups; None: not judged here."""
        for g in self.spec.address:
            v = group(g)
            if v is not None:
                return v
        return None

    def idle(self, conn: str, group: Group) -> bool:
        """Can the line neither count nor change any state? (An `other_user` line without a
        connection, or an `ends` one of a connection with no state: a login in a log where
        no connection named a user.) Its `counts` would be False and leave no state. (A
        connection with state is never idle: a line naming another peer ends that state.)"""
        spec = self.spec
        if conn and conn in self._conns:
            return False
        if not _any(group, spec.other_user):
            return False
        return not conn or _any(group, spec.ends)

    def counts(self, conn: str, group: Group, address: str, now: float) -> bool:
        """Does a line of connection `conn` (its groups: `group`; the address it names, by
        `address()`) count?"""
        spec = self.spec
        other = _any(group, spec.other_user)
        if not conn:  # no connection id: the line stands alone
            return not other
        ends = _any(group, spec.ends)
        c = self._conns.get(conn)
        if c is not None and (now - c.seen > spec.within or c.address != address):
            del self._conns[conn]  # silent for over `within`, or another peer: a reused pid
            c = None
        if c is None:
            c = _Attempt(now, address)
            if not ends:
                self._conns[conn] = c
                if len(self._conns) > self.limit:
                    self._conns.popitem(last=False)
        elif ends:
            del self._conns[conn]
        else:
            c.seen = now
            self._conns.move_to_end(conn)
        for g in spec.user:
            user = group(g)
            if user:
                if not c.user:
                    c.user = user
                elif user != c.user:
                    c.many = True
                break
        for second, first in spec.same_attempt:
            if group(second) is not None:
                was, c.open = c.open, ""
                if was == first:
                    return False  # the second line of the attempt its `first` line counted
        if other and not c.many:
            return False
        for _, first in spec.same_attempt:
            if group(first) is not None:
                c.open = first
        return True

    def __len__(self) -> int:
        return len(self._conns)


def _any(group: Group, names: tuple[str, ...]) -> bool:
    """Did one of the groups take part?"""
    for g in names:  # noqa: SIM110  (a loop: cheaper than any() of a generator)
        if group(g) is not None:
            return True
    return False
