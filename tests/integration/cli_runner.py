"""Invoke the ``rmbench`` Typer app in-process, as the integration tests do."""
from typer.testing import CliRunner

from cli import app

runner = CliRunner()


def invoke(*args):
    """Run ``rmbench ARGS…`` (arguments stringified); exceptions that are not rmbench errors propagate."""
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
