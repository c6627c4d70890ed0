"""The `tillpost` command: a thin layer over the Python API.

Each group of commands lives in its own module and registers itself on `main`.
No traceback ever reaches a user: anything unexpected becomes one line on
stderr and exit code 3 (set TILLPOST_DEBUG=1 to see the traceback).
"""

from __future__ import annotations

import os
import sys

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tillpost")
def cli() -> None:
    """Turn point-of-sale receipts into balanced journal entries."""


def main(argv: list[str] | None = None) -> None:
    from . import booking, delivery, ledger, service, sources, targets, web, workflow  # noqa: F401  (they register commands)

    # Not click's standalone mode: it turns Ctrl-C into "Aborted!" and exit 1, which a
    # scheduler reads as "some receipts in error". An interrupted run exits 130.
    try:
        try:
            code = cli.main(args=argv, prog_name="tillpost", standalone_mode=False)
        except click.Abort as e:
            if isinstance(e.__context__, KeyboardInterrupt) or isinstance(e.__cause__, KeyboardInterrupt):
                raise KeyboardInterrupt from None
            click.echo("Aborted!", err=True)
            sys.exit(1)
        except click.ClickException as e:
            e.show()
            sys.exit(e.exit_code)
        sys.exit(code if isinstance(code, int) else 0)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        click.echo("tillpost: interrupted", err=True)
        sys.exit(130)
    except Exception as e:  # the last line of defence: never a traceback
        if os.environ.get("TILLPOST_DEBUG"):
            raise
        from ..engine.terminal import printable

        click.echo(printable(f"tillpost: internal error: {type(e).__name__}: {e} (set TILLPOST_DEBUG=1 for details)"),
                   err=True)
        sys.exit(3)
