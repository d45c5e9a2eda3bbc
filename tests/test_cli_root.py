from typer.testing import CliRunner

from affectgpt.cli import app


def test_root_help_lists_commands():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "MER-UniBench" in result.output
