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

    try:
        cli.main(args=argv, prog_name="tillpost", standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        click.echo("tillpost: interrupted", err=True)
        sys.exit(130)
    except Exception as e:  # the last line of defence: never a traceback
        if os.environ.get("TILLPOST_DEBUG"):
            raise
        click.echo(f"tillpost: internal error: {type(e).__name__}: {e} (set TILLPOST_DEBUG=1 for details)", err=True)
        sys.exit(3)
