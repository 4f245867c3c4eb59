#!/bin/sh
# Install the Debian packages the integration tests use; `make test` and .ci/run call it (as root).
#
#   tests/system-deps.sh          install what is missing (apt-get update first, only then)
#   tests/system-deps.sh --check  list what is missing; exit 1 if anything is
#
# It looks for one program or file per need, so it takes a few milliseconds when all is there.
# Package scripts are not allowed to start the services they ship (fail2ban, alertmanager) on
# this machine while installing: the tests start their own.
set -eu

# program (looked up on PATH) or absolute path, then the package that provides it
NEEDS='
/lib/systemd/systemd systemd
systemctl systemd
journalctl systemd
systemd-cat systemd
dbus-daemon dbus
/usr/lib/polkit-1/polkitd polkitd
prometheus-alertmanager prometheus-alertmanager
amtool prometheus-alertmanager
prometheus prometheus
systemd-analyze systemd
zsh zsh
fail2ban-regex fail2ban
/usr/sbin/sshd openssh-server
ssh openssh-client
ssh-keygen openssh-client
sshpass sshpass
/usr/sbin/nginx nginx
/usr/sbin/apache2 apache2
/usr/lib/dovecot/imap-login dovecot-imapd
/usr/lib/dovecot/pop3-login dovecot-pop3d
/usr/sbin/postfix postfix
node nodejs
unshare util-linux
nsenter util-linux
setpriv util-linux
findmnt util-linux
logger bsdutils
openssl openssl
nft nftables
ip iproute2
chromium chromium
/usr/bin/chromedriver chromium-driver
'

missing=''
report=''
while read -r what pkg; do
  [ -n "$what" ] || continue
  case "$what" in
  /*) [ -x "$what" ] && continue ;;
  *) command -v "$what" >/dev/null 2>&1 && continue ;;
  esac
  report="$report  $what (package $pkg)
"
  case " $missing " in *" $pkg "*) ;; *) missing="${missing:+$missing }$pkg" ;; esac
done <<EOF
$NEEDS
EOF

[ -n "$missing" ] || exit 0

if [ "${1:-}" = --check ]; then
  printf 'missing for the integration tests:\n%s' "$report"
  exit 1
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  printf 'tests/system-deps.sh: missing for the integration tests:\n%s' "$report" >&2
  echo "tests/system-deps.sh: run it as root on Debian, or install: $missing" >&2
  exit 1
fi

echo "tests/system-deps.sh: installing $missing" >&2
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # one word per package
apt-get install -y -qq --no-install-recommends $missing >/dev/null
sh "$0" --check
