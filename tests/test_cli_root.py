import re

from typer.testing import CliRunner

from affectgpt.cli import app


def test_root_help_lists_commands():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "MER-UniBench" in result.output


def test_root_options_are_verbose_version_and_dash_h():
    result = CliRunner().invoke(app, ["-h"])
    assert result.exit_code == 0
    for option in ("--verbose", "-v", "--version", "--help", "-h"):
        assert re.search(rf"(^|\s){re.escape(option)}(\s|$)", result.output, re.MULTILINE), option


def test_verbose_is_accepted_before_any_command():
    from affectgpt import __version__

    result = CliRunner().invoke(app, ["-v", "version"])
    assert result.exit_code == 0 and result.stdout.strip() == __version__
