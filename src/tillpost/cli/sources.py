"""`tillpost sources`: the source adapters that read POS exports into receipts."""

from __future__ import annotations

import click

from . import cli


@cli.command("sources")
def sources_cmd() -> None:
    """List the source adapters for `book --source NAME` (detected from the file when not given)."""
    from ..sources import ADAPTERS, NORMALIZED

    rows = [(NORMALIZED, "tillpost's own normalized receipts (schemas/receipt.schema.json): JSON, JSON Lines")]
    rows += [(a.name, a.description) for a in ADAPTERS.values()]
    width = max(len(name) for name, _ in rows)
    for name, description in rows:
        click.echo(f"{name.ljust(width)}  {description}")
    click.echo("\nOptions: --source NAME:KEY=VALUE,… (timezone=Europe/Amsterdam, currency=EUR); "
               "csv:MAPPING.yaml names the CSV column mapping.\nMap POS names to the rule file's with "
               "`source NAME payment|tax|category|movement \"POS NAME\" -> name`.")
