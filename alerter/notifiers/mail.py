"""The email notifier: one message per group flush over SMTP, text and HTML parts.

As Alertmanager's email notifier: `smarthost` is host:port; port 465 means TLS from the first
byte, any other port STARTTLS, required unless `require_tls: false`; AUTH (PLAIN/LOGIN via
smtplib) when `auth_username` is set, only over TLS. The subject is the group title
(`[FIRING:2] HighLoad web1`); log text from alerts is escaped in the HTML part (Jinja2
autoescape) and header values are kept on one line, so an alert cannot add headers.
A 4xx SMTP answer or a network error is retried by the outbox, a 5xx is not.
"""

from __future__ import annotations

import contextlib
import ipaddress
import smtplib
import socket
import ssl
import threading
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import jinja2

from alerter.errors import NotifyError
from alerter.notifiers.config import EmailSettings, NotifierConfig
from alerter.notifiers.console import printable, printable_html
from alerter.notifiers.model import Notification, cut, rfc3339
from alerter.notifiers.slack import title

# the HTML part: a value's unprintable characters escaped, a bidi override's too
_ENV = jinja2.Environment(
    autoescape=True, undefined=jinja2.StrictUndefined, finalize=printable_html
)
_ENV.filters["rfc3339"] = rfc3339
# the text part: each value with its control characters escaped (ESC shown as \x1b); an
# annotation keeps its line breaks and tabs (a multi-line description reads as written), log
# text (labels, examples) shows them escaped too, so a log line makes no line of its own
_TEXT_ENV = jinja2.Environment(
    autoescape=False, undefined=jinja2.StrictUndefined, finalize=lambda v: printable(str(v), "\n\t")
)
_TEXT_ENV.filters["rfc3339"] = rfc3339
_TEXT_ENV.filters["printable"] = lambda v: printable(str(v))

TEXT = """{{ title | printable }}
{% for a in alerts %}
[{{ a.status | upper }}] {{ a.labels.get("alertname", "") | printable }}
{%- for k, v in a.labels | dictsort %}
  {{ k | printable }} = {{ v | printable }}
{%- endfor %}
{%- for k, v in a.annotations | dictsort %}
  {{ k | printable }}: {{ v }}
{%- endfor %}
  since {{ a.starts_at | rfc3339 }}
{%- for line in a.examples %}
  > {{ line | printable }}
{%- endfor %}
{% endfor %}
{% if url %}{{ url }}/{% endif %}
"""

HTML = """<!doctype html>
<html><body style="font-family: sans-serif">
<h2>{{ title }}</h2>
{% for a in alerts %}
<div style="margin: 1em 0; padding: .5em; border-left: 4px solid
 {{ '#d33' if a.status == 'firing' else '#3a3' }}">
<strong>[{{ a.status | upper }}] {{ a.labels.get("alertname", "") }}</strong>
<table>
{% for k, v in a.labels | dictsort %}<tr><td>{{ k }}</td><td>{{ v }}</td></tr>{% endfor %}
{% for k, v in a.annotations | dictsort %}<tr><td>{{ k }}</td><td>{{ v }}</td></tr>{% endfor %}
<tr><td>since</td><td>{{ a.starts_at | rfc3339 }}</td></tr>
</table>
{% if a.examples %}<pre>{% for line in a.examples %}{{ line }}
{% endfor %}</pre>{% endif %}
{% if url %}<a href="{{ url }}/#alert-{{ a.fingerprint }}">open in alerter</a>{% endif %}
</div>
{% endfor %}
</body></html>
"""

_TEXT_T = _TEXT_ENV.from_string(TEXT)
_HTML_T = _ENV.from_string(HTML)
SUBJECT_MAX = 200


def one_line(text: str, limit: int = SUBJECT_MAX) -> str:
    """A header value: what is not printable becomes a space, cut to `limit`. That is control
    characters (CR, LF, NEL ...), the line and paragraph separators (U+2028, U+2029, which
    Python's email module refuses in a header as it refuses CR and LF: one such label would
    fail every try of its message) and format characters (bidi overrides)."""
    flat = text if text.isprintable() else "".join(c if c.isprintable() else " " for c in text)
    return cut(flat, limit)


def email_message(n: Notification, s: EmailSettings) -> EmailMessage:
    """The message for one notification. Pure (but for the Message-ID's random part)."""
    ctx = {"title": title(n), "alerts": n.alerts, "url": n.external_url}
    msg = EmailMessage()
    msg["Subject"] = one_line(title(n))
    msg["From"] = s.sender
    msg["To"] = ", ".join(s.to)
    msg["Date"] = formatdate(n.time, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=s.hello)
    for k, v in s.headers.items():
        del msg[k]
        msg[k] = one_line(v, 998)
    msg.set_content(_TEXT_T.render(ctx))
    if s.html:
        msg.add_alternative(_HTML_T.render(ctx), subtype="html")
    return msg


class EmailNotifier:
    def __init__(self, config: NotifierConfig) -> None:
        assert isinstance(config.settings, EmailSettings)
        self.name = config.name
        self.send_resolved = config.send_resolved
        self._s = config.settings
        self._timeout = config.timeout

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self._s.ca_file)
        if self._s.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def send(self, notification: Notification) -> None:
        s = self._s
        msg = email_message(notification, s)
        smtp: smtplib.SMTP
        if s.port == 465:
            smtp = smtplib.SMTP_SSL(
                local_hostname=s.hello, timeout=self._timeout, context=self._context()
            )
        else:
            smtp = smtplib.SMTP(local_hostname=s.hello, timeout=self._timeout)
        # what STARTTLS checks the certificate against (smtplib sets it in __init__ only)
        smtp._host = s.host  # type: ignore[attr-defined]
        # smtplib's timeout bounds each read; the deadline bounds the whole conversation (a
        # server sending its greeting a byte a second would hold the lane for ever)
        deadline = _Deadline(smtp, self._timeout)
        try:
            smtp.connect(s.host, s.port)
            with smtp:
                smtp.ehlo()
                if s.port != 465:
                    if smtp.has_extn("starttls"):
                        smtp.starttls(context=self._context())
                        smtp.ehlo()
                    elif s.require_tls:
                        raise NotifyError(
                            f"{s.host}:{s.port} does not offer STARTTLS and require_tls is true",
                            retry=False,
                        )
                if s.username is not None:
                    peer = smtp.sock.getpeername()[0] if smtp.sock is not None else ""
                    if not isinstance(smtp.sock, ssl.SSLSocket) and not _loopback(peer):
                        raise NotifyError(  # (as Go's PlainAuth, which Alertmanager uses)
                            f"{s.host}:{s.port} offers no TLS: the password is not sent in"
                            " clear; have the server offer STARTTLS, or drop auth_username",
                            retry=False,
                        )
                    smtp.login(s.username, s.password or "")
                smtp.send_message(msg, from_addr=s.sender, to_addrs=list(s.to))
        except smtplib.SMTPResponseException as e:
            detail = (
                e.smtp_error.decode(errors="replace")
                if isinstance(e.smtp_error, bytes)
                else str(e.smtp_error)
            )
            raise NotifyError(
                f"{s.host}:{s.port} answered {e.smtp_code} {detail[:200]}",
                retry=400 <= e.smtp_code < 500,
            ) from None
        except smtplib.SMTPRecipientsRefused as e:
            raise NotifyError(
                f"{s.host}:{s.port} refused the recipients {sorted(e.recipients)}", retry=False
            ) from None
        except (TimeoutError, OSError, smtplib.SMTPException) as e:
            if deadline.expired:
                raise NotifyError(
                    f"{s.host}:{s.port}: no complete conversation within {self._timeout:g}s",
                    retry=True,
                ) from None
            raise NotifyError(f"{s.host}:{s.port}: {type(e).__name__}: {e}", retry=True) from None
        finally:
            deadline.cancel()


class _Deadline:
    """Cuts an SMTP conversation at `seconds` from now: shuts its socket down, which ends the
    read or write it is blocked in."""

    def __init__(self, smtp: smtplib.SMTP, seconds: float) -> None:
        self.expired = False
        self._smtp = smtp
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def _cut(self) -> None:
        self.expired = True
        sock = getattr(self._smtp, "sock", None)  # (the TLS one after STARTTLS)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


def _loopback(address: str) -> bool:
    """Is the address the connection reached on this host (whatever name led there)?"""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
