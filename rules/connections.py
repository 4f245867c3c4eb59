"""How many events a counted line stands for (`weight`), and the state a count rule keeps per
connection (`connection`): the address one line of a connection tells, for another line of the
same connection that does not say it.

sshd writes some failures without the peer's address (`Disconnecting: Too many authentication
failures for root [preauth]`, `User root not allowed because account is locked`); the same
process (its pid: the connection) names the address in another line, before
(`Connection from 192.0.2.1 port 51353`) or after (`Connection closed by 192.0.2.1 [preauth]`).
A line's text never names the connection: the id is sshd's pid from the syslog header or the
journal's _PID, so a client cannot point its failures at another connection's address.

Pure: the caller passes the time; the state is bounded (the least recently seen connections
are dropped past `limit`, and a connection not seen for `ttl` seconds is forgotten, as a pid
is reused).
"""

from __future__ import annotations

from collections import OrderedDict
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
        self, conn: str, key: Key | None, n: int, line: str, now: float
    ) -> list[tuple[Key, int, tuple[str, ...]]]:
        """A line of connection `conn`: the key it names (None: none), the events it stands
        for (0: it only tells the key). Returns what to count now, as (key, events, lines)."""
        if not conn:  # no connection id: the line stands alone
            return [(key, n, (line,))] if key is not None and n else []
        c = self._conns.get(conn)
        if c is None or now - c.seen > self.ttl:
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
        if not n:
            return out
        if c.key is not None:
            out.append((c.key, n, (line,)))
        else:
            c.pending += n
            c.lines = [*c.lines[-(self.keep_lines - 1) :], line] if self.keep_lines > 1 else [line]
        return out

    def __len__(self) -> int:
        return len(self._conns)
