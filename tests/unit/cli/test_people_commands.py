"""``dealpulse user``'s command line: each action parses to its handler, roles are the token roles, and an action
is required."""

from __future__ import annotations

import pytest

from dealpulse_cli.main import _COMMANDS, build_parser
from dealpulse_cli.people import run_user


def test_each_action_parses_to_the_user_handler() -> None:
    args = build_parser().parse_args(["user", "add", "--tenant", "acme", "--user", "rep-1", "--role", "rep",
                                      "--manager", "mgr-1", "--redis-url", "redis://127.0.0.1:1/0"])
    assert _COMMANDS[args.command] is run_user and args.user_command == "add"
    assert (args.tenant, args.user, args.role, args.manager, args.timezone) == ("acme", "rep-1", "rep", "mgr-1",
                                                                                 "UTC")
    assert build_parser().parse_args(["user", "list", "--tenant", "acme", "--json"]).json is True
    assert build_parser().parse_args(["user", "disable", "--tenant", "acme", "--user", "rep-1"]).user == "rep-1"
    enable = build_parser().parse_args(["user", "enable", "--tenant", "acme", "--user", "rep-1"])
    assert (enable.user_command, enable.user) == ("enable", "rep-1")


@pytest.mark.parametrize("argv", [
    ["user"],  # no action
    ["user", "add", "--tenant", "acme", "--user", "rep-1", "--role", "owner"],  # not a role
    ["user", "disable", "--tenant", "acme"],  # whom?
    ["user", "enable", "--tenant", "acme"],
])
def test_an_incomplete_command_is_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2 and "usage: dealpulse user" in capsys.readouterr().err
