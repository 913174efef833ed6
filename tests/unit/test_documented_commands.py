"""Every ``rmbench …`` command written in README.md and docs/*.md parses with the CLI as it is: its subcommands,
options and arguments resolve (Click's ``make_context``, so values are converted but no command runs). The pages are
read when the test runs, so a command another change documents is checked too."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer
import typer.main
from typer._click.exceptions import MissingParameter  # Typer's own Click: what make_context raises

from cli import app

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
INLINE = re.compile(r"`(rmbench [a-z][^`]*)`")
PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9_]*")  # RUN_DIR, N, B: a value the reader fills in


def documented_commands() -> list[tuple[str, str, bool]]:
    """(where, command line after ``rmbench``, whether it is an inline mention rather than a code-block line) for
    every command in the README and docs pages."""
    out = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        text, name = page.read_text(), page.relative_to(ROOT)
        for block in FENCE.finditer(text):
            first = text.count("\n", 0, block.start(1)) + 1
            for i, line in enumerate(block.group(1).splitlines()):
                for part in re.split(r"&&|;", line):
                    match = re.match(r"\s*(?:\$\s+)?(?:.*\$\(which rmbench\)|rmbench(?=\s|$))(.*)", part)
                    if match and not part.lstrip().startswith("#"):
                        out.append((f"{name}:{first + i}", match.group(1), False))
        for match in INLINE.finditer(text):
            out.append((f"{name}:{text.count(chr(10), 0, match.start()) + 1}", match.group(1)[len("rmbench"):], True))
    return out


def to_argv(line: str) -> list[str]:
    """The arguments a reader would type: a ``# comment``, a ``| pipe``, a trailing ``&`` and a ``> redirection``
    dropped, the first of ``(A | B)`` and of
    ``a|b|c`` alternatives, ``[optional]`` parts included, ``…`` elisions dropped (a placeholder value when an option
    needs one)."""
    line = re.sub(r"\(([^()|]*?)\s\|\s[^()]*\)", r"\1", line)  # (--run RUN_DIR | --model DIR) → --run RUN_DIR
    argv = []
    for token in shlex.split(line, comments=True):
        if token in ("|", "&") or token.startswith((">", "<", "2>")):  # a pipe, a background job, a redirection
            break
        token = _unbracket(token).split("|")[0]
        if token in ("...", "…"):
            if argv and argv[-1].startswith("--"):
                argv.append("VALUE")
            continue
        if token:
            argv.append(token)
    return argv


def _unbracket(token: str) -> str:
    """``[--json]`` → ``--json``, ``[--seed`` → ``--seed``, ``1]`` → ``1``; a value's own brackets (``x=[a,b]``,
    ``NAME[,NAME]``) stay."""
    while token.startswith("[") and (token.endswith("]") or token.count("[") > token.count("]")):
        token = token[1:-1] if token.endswith("]") and token.count("[") == token.count("]") else token[1:]
    while token.endswith("]") and token.count("]") > token.count("["):
        token = token[:-1]
    return token


def parse(argv: list[str]):
    """Resolve ``rmbench ARGV`` down to its last subcommand without running anything (the Click context Typer
    builds); a ``typer.TyperException`` (Typer's Click usage errors) if it does not parse."""
    command = typer.main.get_command(app)
    ctx = command.make_context("rmbench", list(argv), resilient_parsing=False)
    while hasattr(command, "resolve_command") and (rest := [*ctx._protected_args, *ctx.args]):  # a group
        name, command, rest = command.resolve_command(ctx, rest)
        ctx = command.make_context(name, rest, parent=ctx, resilient_parsing=False)
    assert not ctx.args, f"unexpected extra arguments {ctx.args}"
    return ctx


COMMANDS = documented_commands()


def test_the_docs_document_commands():
    assert len(COMMANDS) >= 30 and any("train" in line for _, line, _ in COMMANDS)


@pytest.mark.parametrize("where, line, inline", COMMANDS, ids=[where for where, _, _ in COMMANDS])
def test_documented_command_parses(where, line, inline):
    """A mention in prose (`rmbench eval --model`) or a line with an elision (`rmbench sweep ... --controls`) may
    leave out required options and values; a placeholder (`--batch-size B`) may fail its type; nothing else may."""
    argv = to_argv(line)
    partial = inline or "..." in line or "…" in line
    try:
        parse(argv)
    except MissingParameter:
        if not partial:
            pytest.fail(f"{where}: `rmbench{line}` misses a required option or argument")
    except typer.BadParameter as e:
        opts = getattr(e.param, "opts", [])
        values = [argv[i + 1] for i, token in enumerate(argv[:-1]) if token in opts]
        if not values or not all(PLACEHOLDER.fullmatch(v) for v in values):
            pytest.fail(f"{where}: `rmbench{line}` does not parse: {e.format_message()}")
    except typer.TyperException as e:
        if not (inline and "requires an argument" in e.format_message()):
            pytest.fail(f"{where}: `rmbench{line}` does not parse: {e.format_message()}")


@pytest.mark.parametrize("line, argv", [
    (" train bt [--set a.b=1 --seed 1] [--json]   # a comment", ["train", "bt", "--set", "a.b=1", "--seed", "1",
                                                                 "--json"]),
    (" eval (--run RUN_DIR | --model DIR) --suite id [--data ...]", ["eval", "--run", "RUN_DIR", "--suite", "id",
                                                                     "--data", "VALUE"]),
    (" leaderboard [--layout flat|main] | head", ["leaderboard", "--layout", "flat"]),
    (" serve runs/RUN --port 5000 & > log.txt", ["serve", "runs/RUN", "--port", "5000"]),
    (' sweep ... --set "x=[a,b]"', ["sweep", "--set", "x=[a,b]"]),
])
def test_a_documented_line_becomes_the_arguments_a_reader_types(line, argv):
    assert to_argv(line) == argv


@pytest.mark.parametrize("argv", [["train", "bt", "--no-such-option"], ["trian", "bt"], ["eval", "--suite"],
                                  ["leaderboard", "rebuild", "extra"], ["train", "bt", "--seeds", "1"]])
def test_a_command_that_does_not_exist_does_not_parse(argv):
    with pytest.raises((typer.TyperException, AssertionError)):
        parse(argv)
