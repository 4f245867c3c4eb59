"""global.protected_units: entries are unit names or shell-style globs (as systemctl reads
them), checked at load; the targets and slices that hold protected units are protected too; a
configured list adds to the built-in units, never unprotects them."""

from __future__ import annotations

import pytest

from alerter.actions.unitctl import ProtectedUnitError, refuse_protected, templated_unit
from alerter.config.load import parse_config
from alerter.errors import ConfigError


def refused(text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "c.yaml", {})
    return [str(p) for p in exc.value.problems]


def test_invalid_protected_unit_names_are_refused_at_their_position() -> None:
    found = refused(
        "global:\n  protected_units:\n"
        '    - "Web.Service"\n    - "bar.service."\n    - "web frontend.service"\n'
    )
    assert len(found) == 3, found
    assert found[0].startswith("c.yaml:3:7: protected_units: 'Web.Service' ")
    assert "'Web.service'" in found[0]  # what to write instead
    assert found[1] == (
        "c.yaml:4:7: protected_units: 'bar.service.' ends in '.', which no unit name does: "
        "write 'bar.service'"
    )
    assert found[2].startswith("c.yaml:5:7: protected_units: 'web frontend.service' ")


def test_a_dotted_name_without_a_unit_type_suffix_is_refused() -> None:
    (found,) = refused('global: {protected_units: ["dbus-org.freedesktop.login1"]}\n')
    assert "dbus-org.freedesktop.login1.service" in found  # the suffix to add


def test_a_bare_name_is_a_service_as_systemctl_reads_it() -> None:
    cfg = parse_config('global: {protected_units: ["web"]}\n', "c.yaml", {})
    assert "web" in cfg.global_.protected_units
    with pytest.raises(ProtectedUnitError):
        templated_unit("web", frozenset({"web"}))


def test_a_glob_protects_the_units_it_matches_as_systemctl_matches_them() -> None:
    found = refused(
        'global: {protected_units: ["postgres*"]}\n'
        "actions:\n  - {name: a, type: systemd, unit: postgresql.service, operation: stop}\n"
    )
    assert len(found) == 1 and found[0].startswith("c.yaml:3:36: unit: postgresql.service ")
    assert "postgres*" in found[0] and "global.protected_units" in found[0]
    # and at run time, a templated unit and what belongs to a matched service (its socket)
    for unit in ("postgresql", "postgresql@14-main", "postgres.socket"):
        with pytest.raises(ProtectedUnitError):
            templated_unit(unit, frozenset({"postgres*"}))
    with pytest.raises(ProtectedUnitError, match=r"belongs to web-\[0-9\]\.service"):
        refuse_protected("web-1.socket", frozenset({"web-[0-9].service"}))
    assert templated_unit("mysql", frozenset({"postgres*"})) == "mysql.service"


def test_a_template_protects_every_instance() -> None:
    (found,) = refused(
        'global: {protected_units: ["foo@.service"]}\n'
        "actions:\n  - {name: a, type: systemd, unit: foo@1.service, operation: stop}\n"
    )
    assert "belongs to foo@.service" in found


@pytest.mark.parametrize(
    "unit",
    [
        "getty.target",
        "user.slice",
        "user-1000.slice",
        "multi-user.target",
        "default.target",
        "sysinit.target",
        "basic.target",
        "sockets.target",
        "-.slice",
        "system.slice",
    ],
)
def test_a_target_or_slice_that_holds_protected_units_is_refused(unit: str) -> None:
    (found,) = refused(
        f"actions:\n  - {{name: a, type: systemd, unit: {unit!r}, operation: stop}}\n"
    )
    # (-.slice is refused for its leading '-' already, which an argv would read as an option)
    if unit == "-.slice":
        assert found.startswith("c.yaml:2:36: unit: '-.slice' is not a valid unit name"), found
    else:
        assert found.startswith(f"c.yaml:2:36: unit: {unit} holds protected units"), found


def test_other_targets_and_a_cap_on_a_holding_slice_are_kept_with_a_warning() -> None:
    cfg = parse_config(
        "actions:\n  - {name: a, type: systemd, unit: backup.target, operation: stop}\n"
        "  - {name: b, type: systemd, unit: user.slice, operation: set-property,\n"
        "     properties: {CPUQuota: 50%}}\n"
        "collectors: [{name: host, type: host}]\n",
        "c.yaml",
        {},
    )
    assert [w.message.split(";")[0] for w in cfg.all_warnings()] == [
        "warning: unit: backup.target is a target unit",
        "warning: unit: user.slice is a slice unit",
    ]


@pytest.mark.parametrize(
    ("unit", "operation", "holder"),
    [
        # systemd's static aliases: acting on one acts on the target it names
        ("runlevel1.target", "start", "rescue.target"),
        ("runlevel2.target", "stop", "multi-user.target"),
        ("runlevel3.target", "stop", "multi-user.target"),
        ("runlevel4.target", "restart", "multi-user.target"),
        ("runlevel5.target", "stop", "graphical.target"),
        # starting it stops every service (each conflicts with it) and ends nothing
        ("shutdown.target", "start", None),
    ],
)
def test_an_alias_of_a_target_that_holds_protected_units_is_refused(
    unit: str, operation: str, holder: str | None
) -> None:
    (found,) = refused(
        f"actions:\n  - {{name: a, type: systemd, unit: {unit}, operation: {operation}}}\n"
    )
    said = f"is an alias of {holder}, which holds" if holder else "holds"
    assert found.startswith(f"c.yaml:2:36: unit: {unit} {said} protected units"), found
    assert f"alerter will not {operation} it" in found


@pytest.mark.parametrize(
    ("unit", "template"),
    [
        # systemd puts the instances of NAME@.service in system-NAME.slice ('-' as \x2d)
        ("system-getty.slice", "getty@.service"),
        ("system-serial\\x2dgetty.slice", "serial-getty@.service"),
        ("system-container\\x2dgetty.slice", "container-getty@.service"),
        ("system-ssh.slice", "ssh.service"),
        ("system-sshd.slice", "sshd.service"),
        ("system-systemd\\x2dfsck.slice", "systemd-*"),
        ("system-user\\x2druntime\\x2ddir.slice", "user-runtime-dir@.service"),
    ],
)
def test_the_slice_of_a_protected_templates_instances_is_refused(unit: str, template: str) -> None:
    (found,) = refused(
        f"actions:\n  - {{name: a, type: systemd, unit: '{unit}', operation: stop}}\n"
    )
    assert found.startswith(f"c.yaml:2:36: unit: {unit} holds the instances of "), found
    assert f"{template}, which is protected" in found


def test_the_slice_of_a_configured_protected_units_instances_is_refused() -> None:
    (found,) = refused(
        'global: {protected_units: ["postgres*"]}\n'
        "actions:\n  - {name: a, type: systemd, unit: system-postgresql.slice, operation: stop}\n"
    )
    assert "system-postgresql.slice holds the instances of postgresql@.service" in found
    assert "postgres*" in found


def test_aliases_of_the_targets_that_end_the_host_are_kept_with_a_warning() -> None:
    # a literal reboot.target is the operator's choice (warned about): its aliases are too,
    # and the warning says what they name; a slice of no protected template is only warned of
    cfg = parse_config(
        "actions:\n  - {name: a, type: systemd, unit: runlevel6.target, operation: start}\n"
        "  - {name: b, type: systemd, unit: ctrl-alt-del.target, operation: start}\n"
        "  - {name: c, type: systemd, unit: runlevel0.target, operation: start}\n"
        "  - {name: d, type: systemd, unit: system-postgresql.slice, operation: stop}\n"
        "collectors: [{name: host, type: host}]\n",
        "c.yaml",
        {},
    )
    assert [w.message.split(";")[0] for w in cfg.all_warnings()] == [
        "warning: unit: runlevel6.target (an alias of reboot.target) is a target unit",
        "warning: unit: ctrl-alt-del.target (an alias of reboot.target) is a target unit",
        "warning: unit: runlevel0.target (an alias of poweroff.target) is a target unit",
        "warning: unit: system-postgresql.slice is a slice unit",
    ]


# issue 13, point 4
def test_a_configured_protected_list_does_not_unprotect_the_built_in_units() -> None:
    """The issue's case: with protected_units: [web.service], acting on alerter itself, ssh,
    journald or dbus is still refused by `alerter check`; so are systemd-* units and units that
    belong to a protected one (its socket, a getty instance)."""
    units = [
        ("alerter.service", "stop"),
        ("ssh.service", "restart"),
        ("sshd", "restart"),
        ("systemd-journald.service", "restart"),
        ("dbus.service", "restart"),
        ("web.service", "stop"),
        # built in by prefix or by belonging to a protected unit
        ("systemd-logind.service", "stop"),
        ("ssh.socket", "stop"),
        ("getty@tty1.service", "stop"),
    ]
    actions = "".join(
        f"  - {{name: a{i}, type: systemd, unit: {u}, operation: {op}}}\n"
        for i, (u, op) in enumerate(units)
    )
    text = "global: {protected_units: [web.service]}\nactions:\n" + actions
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "c.yaml", {})
    refused = [p.message for p in exc.value.problems]
    assert len(refused) == len(units)
    for (unit, _), message in zip(units, refused, strict=True):
        full = unit if "." in unit else f"{unit}.service"
        assert message.startswith(f"unit: {full} "), message
        why = "global.protected_units" if full == "web.service" else "built in"
        assert f"is protected ({why})" in message, message
