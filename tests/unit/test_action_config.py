"""The actions file: what it declares, and every way it is refused at start-up."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hookline import runtime
from hookline.cli import main
from hookline.config import Settings
from hookline.delivery.action_config import ActionsFileError, Expression, load_actions

PY = sys.executable


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "actions.toml"
    path.write_text(text)
    return path


def test_a_full_declaration(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
[actions.deploy]
command = ["{PY}", "deploy.py"]
args = ["--ref", {{ jmespath = "payload.ref" }}, {{ jmespath = 'headers."x-github-event"' }}]
timeout = "30s"
concurrency = 2
workdir = "{tmp_path}"
env = {{ KEY = "value" }}
stdin = "payload"

[actions.minimal]
command = ["{PY}"]
""",
    )
    actions = load_actions(path, max_timeout=55)
    deploy = actions["deploy"]
    assert deploy.command == (PY, "deploy.py")
    assert deploy.args == (
        "--ref",
        Expression("payload.ref"),
        Expression('headers."x-github-event"'),
    )
    assert (deploy.timeout, deploy.concurrency, deploy.workdir) == (30.0, 2, tmp_path)
    assert (dict(deploy.env), deploy.stdin_payload) == ({"KEY": "value"}, True)
    minimal = actions["minimal"]
    assert (minimal.args, minimal.timeout, minimal.concurrency) == ((), 30.0, 1)
    assert (minimal.workdir, dict(minimal.env), minimal.stdin_payload) == (None, {}, False)


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ('command = ["{py}"]\nshell = true', "unknown key(s) ['shell']"),
        ('command = ["python3", "x.py"]', "'python3' is not an absolute path"),
        ('command = ["./run.sh"]', "is not an absolute path"),
        ('command = "{py} x.py"', "a non-empty list of strings"),
        ("command = []", "a non-empty list of strings"),
        ('command = ["{tmp}/missing"]', "is not an executable file"),
        ('command = ["{py}"]\ntimeout = "soon"', "'soon' is not a duration"),
        ('command = ["{py}"]\ntimeout = "30x"', "is not a duration"),
        ('command = ["{py}"]\ntimeout = 0', "is not a duration"),
        ('command = ["{py}"]\ntimeout = "-5s"', "is not a duration"),
        ('command = ["{py}"]\ntimeout = true', "is not a duration"),
        ('command = ["{py}"]\ntimeout = "2m"', "120s is over 55s"),
        ('command = ["{py}"]\nconcurrency = 0', "concurrency: a whole number"),
        ('command = ["{py}"]\nconcurrency = 1.5', "concurrency: a whole number"),
        ('command = ["{py}"]\nargs = [{{ jmespath = "a[" }}]', "args[0].jmespath: invalid"),
        ('command = ["{py}"]\nargs = [{{ shell = "id" }}]', 'a string or { jmespath = "..." }'),
        ('command = ["{py}"]\nargs = [1]', 'a string or { jmespath = "..." }'),
        ('command = ["{py}"]\nargs = "x"', "args: a list"),
        ('command = ["{py}"]\nworkdir = "relative"', "workdir: must be an absolute path"),
        ('command = ["{py}"]\nworkdir = "{tmp}/nope"', "is not a directory"),
        ('command = ["{py}"]\nenv = {{ K = 1 }}', "env.K"),
        ('command = ["{py}"]\nenv = {{ "A-B" = "x" }}', "env.A-B"),
        ('command = ["{py}"]\nstdin = "headers"', 'stdin: the only value is "payload"'),
    ],
)
def test_an_invalid_action_is_refused_with_a_clear_error(
    tmp_path: Path, body: str, complaint: str
) -> None:
    path = write(tmp_path, "[actions.deploy]\n" + body.format(py=PY, tmp=tmp_path))
    with pytest.raises(ActionsFileError) as raised:
        load_actions(path, max_timeout=55)
    assert complaint in str(raised.value)
    assert str(path) in str(raised.value) and "actions.deploy" in str(raised.value)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[actions.deploy\n", "not valid TOML"),
        ('[hooks.deploy]\ncommand = ["/bin/true"]', "unknown top-level key(s) ['hooks']"),
        ('actions = "x"', "'actions' must be a table"),
        ('[actions."has space"]\ncommand = ["/bin/true"]', "a name is 1-64 letters"),
        ("[actions]\ndeploy = 1", "actions.deploy: must be a table"),
    ],
)
def test_an_invalid_file_is_refused(tmp_path: Path, text: str, complaint: str) -> None:
    with pytest.raises(ActionsFileError, match="actions") as raised:
        load_actions(write(tmp_path, text))
    assert complaint in str(raised.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ActionsFileError, match="No such file"):
        load_actions(tmp_path / "absent.toml")


def test_the_server_refuses_to_start_on_an_invalid_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[actions.deploy]\ncommand = ["deploy.sh"]')
    data = tmp_path / "data"
    with pytest.raises(ActionsFileError):
        runtime.build_roles(Settings(data_dir=data, actions_file=path))
    assert not data.exists()  # refused before anything was created
    result = CliRunner().invoke(
        main, ["serve"], env={"HOOKLINE_ACTIONS_FILE": str(path), "HOOKLINE_DATA_DIR": str(data)}
    )
    assert result.exit_code == 1
    assert "'deploy.sh' is not an absolute path" in result.output


def test_the_lease_bounds_the_timeout(tmp_path: Path) -> None:
    path = write(tmp_path, f'[actions.long]\ncommand = ["{PY}"]\ntimeout = "58s"')
    with pytest.raises(ActionsFileError, match="HOOKLINE_LEASE_SECONDS"):
        runtime.actions(Settings(data_dir=tmp_path, actions_file=path))
    longer = Settings(data_dir=tmp_path, actions_file=path, lease_seconds=120)
    assert runtime.actions(longer)["long"].timeout == 58.0
