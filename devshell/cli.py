"""The one dispatcher: ``devshell <command>``.

Built-in commands are registered by dotted path and imported only when they run,
so ``devshell --help`` stays light. Third-party commands come from the
entry-point group ``devshell.commands`` (read once, on first use); a plugin that
fails to load is reported and skipped, and the built-ins keep working.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, NoReturn

import click

from .version import __version__
from .checks import process_defaults
from .console import warn
from .errors import DevshellError
from .interrupts import EXIT_TERMINATED, Terminated

PLUGIN_GROUP = "devshell.commands"

#: name -> (import path "module:attribute", one-line help shown by ``devshell --help``)
BUILTIN_COMMANDS: dict[str, tuple[str, str]] = {
    "populate": ("devshell.commands.populate:populate_command",
                 "Fill a database with realistic fake rows (keys, uniques, CHECKs and partitions respected)."),
    "config": ("devshell.commands.config:config_command",
               "Show the effective configuration and where each value comes from."),
    "db": ("devshell.commands.db:db_group",
           "Create, copy, dump and restore databases; run the embedded PostgreSQL."),
    "shell": ("devshell.commands.shell:shell_command",
              "Open a Python shell bound to a database (IPython, ptpython, bpython, python)."),
    "server": ("devshell.commands.server:server_command",
               "Run the HTTP server (threaded by default) with its cron threads."),
    "kernel": ("devshell.commands.kernel:kernel_group",
               "Install, list and remove Jupyter kernels bound to a database."),
    "scaffold": ("devshell.commands.scaffold:scaffold_command",
                 "Create a module or a project from a template (Jinja2)."),
    "cloc": ("devshell.commands.cloc:cloc_command",
             "Count code, comment and blank lines per module and language."),
    "deploy": ("devshell.commands.deploy:deploy_command",
               "Upload a module to a running server, which installs it and makes every server load it."),
    "start": ("devshell.commands.start:start_command",
              "Quick start: database, modules and server for the project here (--demo: a demo project)."),
    "modules": ("devshell.commands.modules:modules_command",
                "List the modules on the addons path (with -d: which are installed, at which version)."),
    "routes": ("devshell.commands.routes:routes_command",
               "List every HTTP route with its methods, auth and module (with -d: those served there)."),
}
#: the command that server flags given without a command run (seed: ``odoo-bin --http-port 8080``)
DEFAULT_COMMAND = "server"

#: set once here: every command inherits them from the root context (-h and --help everywhere)
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class DevshellGroup(click.Group):
    """A click group whose commands are imported on demand."""

    _plugins: dict[str, Any] | None = None
    _module_commands: dict[str, click.Command] | None = None

    def plugin_entry_points(self) -> dict[str, Any]:
        if DevshellGroup._plugins is None:
            from importlib.metadata import entry_points

            found = {ep.name: ep for ep in entry_points(group=PLUGIN_GROUP)}
            DevshellGroup._plugins = {name: ep for name, ep in found.items() if name not in BUILTIN_COMMANDS}
        return DevshellGroup._plugins

    def module_commands(self) -> dict[str, click.Command]:
        """Commands from the ``cli.py`` of modules on the configured addons path (loaded once, on first use)."""
        if DevshellGroup._module_commands is None:
            from .modules import module_commands

            reserved = set(self.commands) | set(BUILTIN_COMMANDS) | set(self.plugin_entry_points())
            found = module_commands(reserved=reserved, warn=warn)
            DevshellGroup._module_commands = {name: item.command for name, item in found.items()}
        return DevshellGroup._module_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(self.commands) | set(BUILTIN_COMMANDS) | set(self.plugin_entry_points())
        return sorted(names | set(self.module_commands()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name in BUILTIN_COMMANDS:
            module_name, _, attribute = BUILTIN_COMMANDS[cmd_name][0].partition(":")
            command = getattr(importlib.import_module(module_name), attribute)
            self.commands[cmd_name] = command
            return command
        entry_point = self.plugin_entry_points().get(cmd_name)
        if entry_point is None:
            return self.module_commands().get(cmd_name)
        try:
            command = entry_point.load()
        except Exception as exc:  # a broken plugin must not take the built-ins down
            warn(f"plugin command {cmd_name!r} ({entry_point.value}) failed to load: {exc}")
            return None
        if not isinstance(command, click.Command):
            warn(f"plugin command {cmd_name!r} ({entry_point.value}) is not a click command")
            return None
        self.commands[cmd_name] = command
        return command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self._default_command_for_flags(ctx, args))

    def _default_command_for_flags(self, ctx: click.Context, args: list[str]) -> list[str]:
        """``devshell --http-port 8080``: server flags before any command run the server command.

        Only flags the server command knows are redirected: a typo still gets the
        group's own "no such option" error. The server command is imported only
        when the first argument is an option the group does not have.
        """
        own = {name for param in self.get_params(ctx) for name in (*param.opts, *param.secondary_opts)}
        index = 0
        while index < len(args) and args[index] in own:  # root flags (--debug) may come first
            index += 1
        if index == len(args) or not args[index].startswith("-") or args[index] == "--":
            return args
        server = self.get_command(ctx, DEFAULT_COMMAND)
        if server is None:
            return args
        known = {name for param in server.get_params(ctx) for name in (*param.opts, *param.secondary_opts)}
        if args[index].split("=", 1)[0] not in known:
            return args
        return [*args[:index], DEFAULT_COMMAND, *args[index:]]

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                           list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and not ctx.resilient_parsing and self.get_command(ctx, name) is None:
            import difflib  # only on this path: a misspelt command

            closest = difflib.get_close_matches(name, self.list_commands(ctx), n=1)  # shel: shell, not help
            raise click.exceptions.NoSuchCommand(name, possibilities=closest, ctx=ctx)
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in BUILTIN_COMMANDS and name not in self.commands:
                rows.append((name, BUILTIN_COMMANDS[name][1]))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=DevshellGroup, context_settings=CONTEXT_SETTINGS, invoke_without_command=True)
@click.version_option(__version__, "--version", prog_name="devshell")
@click.option("--debug", is_flag=True, help="Show tracebacks of expected errors too.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """devshell: shell, database admin and more for a module-based PostgreSQL application.

    Run `devshell help COMMAND` or `devshell COMMAND -h` for a command's options.
    Shell completion: eval "$(_DEVSHELL_COMPLETE=bash_source devshell)" (zsh_source, fish_source).
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug  # read back by main() when a DevshellError reaches it
    if ctx.invoked_subcommand is None:
        default = ctx.command.get_command(ctx, DEFAULT_COMMAND) if isinstance(ctx.command, click.Group) else None
        if default is None:  # the server command is not part of this build yet
            click.echo(ctx.get_help())
            return
        ctx.invoke(default)


@cli.command("help")
@click.argument("command", nargs=-1)
@click.pass_context
def help_command(ctx: click.Context, command: tuple[str, ...]) -> None:
    """Show help for devshell or a command: `devshell help db create`."""
    parent = ctx.parent
    assert parent is not None
    current: click.Command = parent.command
    target_ctx = parent
    for name in command:
        if not isinstance(current, click.Group):
            raise click.UsageError(f"{target_ctx.command_path} has no subcommand {name!r}", ctx=ctx)
        sub = current.get_command(target_ctx, name)
        if sub is None:
            raise click.UsageError(f"no such command {' '.join([target_ctx.command_path, name])!r}", ctx=ctx)
        current = sub
        target_ctx = click.Context(sub, info_name=name, parent=target_ctx)
    click.echo(target_ctx.get_help())


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"devshell: error: {message}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the CLI and turn expected failures into one line and an exit code."""
    process_defaults()
    args = sys.argv[1:] if argv is None else argv
    state: dict[str, Any] = {}  # the root context's obj: --debug lands here (not an argv scan)
    try:
        result = cli.main(args=args, prog_name="devshell", standalone_mode=False, obj=state)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} -h')" if exc.ctx is not None else ""
        _fail(exc.format_message().replace("\n", " ") + hint, exc.exit_code)
    except click.ClickException as exc:
        _fail(exc.format_message().replace("\n", " "), exc.exit_code)
    except click.Abort:
        _fail("aborted", 1)
    except DevshellError as exc:
        if state.get("debug"):
            raise
        _fail(exc.message, exc.exit_code)
    except Terminated:
        _fail("terminated by SIGTERM (what was half done is undone)", EXIT_TERMINATED)
    except KeyboardInterrupt:
        click.echo("", err=True)
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)
