"""What a template may make an action act on: templated units and templated paths (issue 11.4)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alerter.actions.config import SystemdSpec
from alerter.actions.processes import read_pidfile
from alerter.actions.templating import FieldTemplate, confined_realpath, render_path
from alerter.actions.unitctl import ProtectedUnitError, normalize_unit, templated_unit
from alerter.config.load import DEFAULT_PROTECTED_UNITS
from alerter.core.yamlsource import SourceError
from alerter.errors import ActionError

from .conftest import parse_actions

PROTECTED = frozenset(DEFAULT_PROTECTED_UNITS)

# --- templated units -------------------------------------------------------------------------

HOST_STATE = [
    "reboot.target",
    "poweroff.target",
    "halt.target",
    "kexec.target",
    "ctrl-alt-del.target",
    "system.slice",
    "user.slice",
    "home.mount",
    "home.automount",
    "dev-sda2.swap",
]
NO_SERVICE = ["init.scope", "session-1.scope", "dev-sda.device", "web.socket", "web.timer"]
OF_PROTECTED = {
    "dbus.socket": "dbus.service",
    "systemd-journald.socket": "systemd-journald.service",
    "ssh.socket": "ssh.service",
    "ssh.path": "ssh.service",
    "sshd.timer": "sshd.service",
    "dbus.path": "dbus.service",
    "ssh@1-10.0.0.1:22-10.0.0.2:5555.service": "ssh.service",
}


@pytest.mark.parametrize("unit", HOST_STATE)
def test_templated_units_that_change_the_host_are_refused(unit: str) -> None:
    with pytest.raises(ValueError, match="changes the host's state") as e:
        templated_unit(unit, PROTECTED)
    assert not isinstance(e.value, ProtectedUnitError)
    assert f"{unit} is a {unit.rsplit('.', 1)[1]} unit" in str(e.value)
    assert "must render to a service" in str(e.value)


@pytest.mark.parametrize("unit", NO_SERVICE)
def test_templated_units_of_other_kinds_are_refused(unit: str) -> None:
    with pytest.raises(
        ValueError, match="is no service: a templated unit must render to a service"
    ):
        templated_unit(unit, PROTECTED)


@pytest.mark.parametrize(("unit", "owner"), sorted(OF_PROTECTED.items()))
def test_sockets_paths_timers_and_instances_of_protected_services_are_protected(
    unit: str, owner: str
) -> None:
    with pytest.raises(ProtectedUnitError) as e:
        templated_unit(unit, PROTECTED)
    assert str(e.value) == (
        f"{unit} belongs to {owner}, which is protected (built in); alerter will not act on it"
    )


def test_a_unit_of_the_users_list_is_protected_as_theirs_and_alerters_own_as_its() -> None:
    with pytest.raises(ProtectedUnitError, match=r"web@.service, which is protected \(global.p"):
        templated_unit("web@1", PROTECTED | {"web@.service"})
    with pytest.raises(ProtectedUnitError) as e:
        templated_unit("web", PROTECTED | {"web.service"}, own={"web.service"})
    assert (
        str(e.value) == "web.service is protected (alerter runs in it); alerter will not act on it"
    )


@pytest.mark.parametrize(
    "unit",
    [
        "systemd-reboot",
        "systemd-poweroff.service",
        "systemd-halt.service",
        "systemd-kexec.service",
        "systemd-logind.service",
        "systemd-logind.socket",
        "dbus.service",
        "dbus-broker.service",
        "emergency.service",
        "rescue",
        "getty@tty1.service",
        "serial-getty@ttyS0.service",
        "user@0.service",
        "user-runtime-dir@1000.service",
        "alerter",
    ],
)
def test_the_built_in_protected_set_holds_whatever_the_config_says(unit: str) -> None:
    """global.protected_units adds to the built-in set: even an empty list protects these."""
    with pytest.raises(ProtectedUnitError, match=r"is protected \(built in\)"):
        templated_unit(unit, frozenset())


def test_configured_protected_units_protect_their_sockets_too() -> None:
    mine = frozenset({"web-frontend.service"})
    with pytest.raises(ProtectedUnitError, match=r"belongs to web-frontend\.service"):
        templated_unit("web-frontend.socket", mine)
    with pytest.raises(ProtectedUnitError, match=r"web-frontend\.service is protected"):
        templated_unit("web-frontend", mine)
    assert templated_unit("web-backend", mine) == "web-backend.service"


@pytest.mark.parametrize(
    ("rendered", "unit"),
    [
        ("web", "web.service"),
        ("web.service", "web.service"),
        ("worker@3.service", "worker@3.service"),
        ("worker@a@b", "worker@a@b.service"),  # systemd allows '@' in an instance
        ("app\\x2dx:1_a.b-c", "app\\x2dx:1_a.b-c.service"),
        ("sshd-keygen.service", "sshd-keygen.service"),  # a different base than sshd
        ("a" * 247, "a" * 247 + ".service"),  # 255 characters: systemd's longest
    ],
)
def test_plain_services_pass(rendered: str, unit: str) -> None:
    assert templated_unit(rendered, PROTECTED) == unit


@pytest.mark.parametrize(
    ("rendered", "why"),
    [
        ("a" * 248, "256 characters, at most 255"),
        ("a" * 250 + ".service", "258 characters"),
        ("web@.service", "is a template: a templated unit must name an instance"),
        ("@web.service", "not a valid unit name"),
        ("-.mount", "not a valid unit name"),
        ("web.service\nreboot.target", "not a valid unit name"),
        ("web\x00.service", "not a valid unit name"),
        ("../reboot.target", "not a valid unit name"),
    ],
)
def test_odd_names_are_refused(rendered: str, why: str) -> None:
    with pytest.raises(ValueError, match=why.replace("(", r"\(")):
        templated_unit(rendered, PROTECTED)


def test_literal_units_keep_systemctl_completion() -> None:
    assert normalize_unit("reboot.target") == "reboot.target"
    assert normalize_unit("user-1000.slice") == "user-1000.slice"


# --- the config ------------------------------------------------------------------------------


def test_a_literal_target_or_slice_is_kept_with_a_warning() -> None:
    reboot, slice_, web = parse_actions("""
actions:
  - {name: reboot, type: systemd, unit: reboot.target, operation: start}
  - {name: slice, type: systemd, unit: user.slice, operation: set-property,
     properties: {CPUQuota: 50%}}
  - {name: web, type: systemd, unit: web}
""")
    assert isinstance(reboot.spec, SystemdSpec)
    assert reboot.spec.unit.source == "reboot.target"
    (w,) = reboot.warnings
    assert str(w) == (
        "alerter.yaml:3:41: warning: unit: reboot.target is a target unit; acting on it changes "
        "the host's state, not one service (kept, as written here; a templated unit could not "
        "name it)"
    )
    assert "user.slice is a slice unit" in str(slice_.warnings[0])
    assert web.warnings == ()


def test_a_template_ending_in_another_kind_is_refused_at_load() -> None:
    with pytest.raises(SourceError) as e:
        parse_actions("""
actions:
  - {name: s, type: systemd, unit: "{{ labels.app }}.socket"}
""")
    assert str(e.value) == (
        "alerter.yaml:3:36: unit: a templated unit must render to a service, and this one ends "
        "in .socket (write NAME or NAME.service, or the unit literally)"
    )
    (ok,) = parse_actions("""
actions:
  - {name: s, type: systemd, unit: "{{ labels.app }}.service"}
""")
    assert isinstance(ok.spec, SystemdSpec)
    assert not ok.spec.unit.is_static


@pytest.mark.parametrize(
    ("pidfile", "why"),
    [
        ("{{ labels.pidfile }}", "must start with a literal absolute directory"),
        ("run/{{ labels.app }}.pid", "must start with a literal absolute directory"),
        ("/{{ labels.app }}.pid", "must name a literal directory other than /"),
        ("//{{ labels.app }}.pid", "must name a literal directory other than /"),
    ],
)
def test_a_templated_pidfile_needs_a_literal_directory(pidfile: str, why: str) -> None:
    with pytest.raises(SourceError, match=f"pidfile: a templated path {why}"):
        parse_actions(f"""
actions:
  - {{name: hup, type: signal, signal: HUP, pidfile: "{pidfile}"}}
""")


# --- templated paths -------------------------------------------------------------------------


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    d = tmp_path / "run" / "app"
    d.mkdir(parents=True)
    (d / "web.pid").write_text("123\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.pid").write_text("1\n")
    return d


def ctx(**labels: str) -> dict[str, object]:
    return {"labels": labels}


def test_a_templated_pidfile_inside_its_directory_renders(run_dir: Path) -> None:
    t = FieldTemplate.compile(f"{run_dir}/{{{{ labels.app }}}}.pid")
    assert render_path(t, ctx(app="web")) == f"{run_dir}/web.pid"
    t = FieldTemplate.compile(f"{run_dir}/web-{{{{ labels.n }}}}.pid")  # prefix not ending in /
    assert render_path(t, ctx(n="1")) == f"{run_dir}/web-1.pid"
    t = FieldTemplate.compile(f"{run_dir.parent}/{{{{ labels.app }}}}/web.pid")
    assert render_path(t, ctx(app="app")) == f"{run_dir}/web.pid"  # subdirectories are fine


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("../../outside/secret.pid", "may not hold '..', '.' or '//'"),
        ("..", "may not hold '..', '.' or '//'"),
        ("web.pid/..", "may not hold '..', '.' or '//'"),
        ("./web.pid", "may not hold '..', '.' or '//'"),
        ("/etc/shadow", "may not hold '..', '.' or '//'"),
        ("", "may not hold '..', '.' or '//'"),
        ("web.pid\x00", "holds a control character"),
        ("web.pid\n", "holds a control character"),
        ("web\x00/../../outside/secret.pid", "holds a control character"),
        ("web.pid\t", "holds a control character"),
    ],
)
def test_hostile_label_values_in_a_pidfile_are_refused(run_dir: Path, value: str, why: str) -> None:
    t = FieldTemplate.compile(f"{run_dir}/{{{{ labels.app }}}}")
    with pytest.raises(ValueError) as e:
        render_path(t, ctx(app=value))
    assert why in str(e.value)


def test_a_whitespace_trimming_tag_cannot_eat_the_directory(run_dir: Path) -> None:
    t = FieldTemplate.compile(f"{run_dir}/ {{{{- labels.app }}}}")
    with pytest.raises(ValueError, match="may not hold"):
        render_path(t, ctx(app="/../../outside/secret.pid"))


def test_a_symlink_pointing_outside_is_refused(run_dir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "outside" / "secret.pid"
    (run_dir / "evil.pid").symlink_to(secret)
    (run_dir / "sub").symlink_to(tmp_path / "outside")
    (run_dir / "dangling.pid").symlink_to(tmp_path / "outside" / "nothing.pid")
    (run_dir / "inner.pid").symlink_to(run_dir / "web.pid")  # stays inside: fine
    t = FieldTemplate.compile(f"{run_dir}/{{{{ labels.app }}}}.pid")
    for name, real in (("evil", secret), ("dangling", tmp_path / "outside" / "nothing.pid")):
        with pytest.raises(ValueError) as e:
            render_path(t, ctx(app=name))
        assert str(e.value) == (
            f"{run_dir}/{name}.pid resolves to {real}, outside {run_dir} (a symlink?)"
        )
    with pytest.raises(ValueError, match="outside"):
        render_path(t, ctx(app="sub/secret"))
    assert render_path(t, ctx(app="inner")) == f"{run_dir}/inner.pid"


def test_a_symlinked_directory_confines_to_where_it_points(run_dir: Path, tmp_path: Path) -> None:
    """/var/run -> /run: the configured directory may itself be a symlink."""
    link = tmp_path / "varrun"
    link.symlink_to(run_dir)
    t = FieldTemplate.compile(f"{link}/{{{{ labels.app }}}}.pid")
    assert render_path(t, ctx(app="web")) == f"{link}/web.pid"
    assert confined_realpath(f"{link}/web.pid", str(link)) == f"{run_dir}/web.pid"


def test_a_literal_pidfile_stays_as_written(tmp_path: Path) -> None:
    t = FieldTemplate.compile("/anything/../at/all.pid")
    assert render_path(t, ctx()) == "/anything/../at/all.pid"


def test_the_executor_resolves_again_before_reading(run_dir: Path, tmp_path: Path) -> None:
    """A symlink swapped in between decision and run is refused, not followed."""
    t = FieldTemplate.compile(f"{run_dir}/{{{{ labels.app }}}}.pid")
    path = render_path(t, ctx(app="web"))
    assert read_pidfile(path, t) == "123"
    os.unlink(path)
    os.symlink(tmp_path / "outside" / "secret.pid", path)
    with pytest.raises(ActionError, match=r"pidfile refused: .* outside"):
        read_pidfile(path, t)
    assert read_pidfile(path, None) == "1"  # a literal pidfile may be a symlink


def test_a_fifo_as_pidfile_does_not_hold_the_worker(run_dir: Path) -> None:
    fifo = run_dir / "fifo.pid"
    os.mkfifo(fifo)
    t = FieldTemplate.compile(f"{run_dir}/{{{{ labels.app }}}}.pid")
    assert read_pidfile(render_path(t, ctx(app="fifo")), t) == ""


@pytest.mark.parametrize(
    ("template", "read"),
    [
        ("{{ labels.ip }}", {"ip"}),
        ('{{ labels["unit"] }}.service', {"unit"}),
        ('{{ labels.get("x", "y") }}', set()),
        ("{{ labels.items() | list }}", set()),
        ('{{ labels.ip | default("0.0.0.0") }}-{{ labels.u }}', {"u"}),
        ("{% if labels.ip is defined %}{{ labels.ip }}{% endif %}", set()),
        ("plain", set()),
    ],
)
def test_a_template_says_which_labels_it_cannot_render_without(
    template: str, read: set[str]
) -> None:
    # (`alerter check` warns of an action reading a label its rule's alerts never have)
    assert FieldTemplate.compile(template).labels_read() == read
