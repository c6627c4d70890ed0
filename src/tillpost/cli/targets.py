"""`tillpost targets`: the payload targets, what each renders and the settings it takes."""

from __future__ import annotations

import click

from . import cli


@cli.command("targets")
@click.option("--settings", "show_settings", is_flag=True,
              help="Also list each target's settings and what validates its output.")
def targets_cmd(show_settings: bool) -> None:
    """List the payload targets for `tillpost book --target NAME`."""
    from ..targets import PER_INVOICE, SINGLE, targets

    found = targets()
    width = max(map(len, found))
    for t in found.values():
        writes = {SINGLE: "one file", PER_INVOICE: "a folder, one file per invoice"}.get(t.documents,
                                                                                       "a folder, one file per journal")
        click.echo(f"{t.name:<{width}}  {t.description}")
        click.echo(f"{'':<{width}}  renders {t.renders} as .{t.extension} ({writes})")
        if show_settings:
            click.echo(f"{'':<{width}}  validated by {t.validated_by}")
            for s in t.settings.values():
                flag = "required" if s.required else f"default {s.default}" if s.default else "optional"
                choices = f" [{'|'.join(s.choices)}]" if s.choices else ""
                click.echo(f"{'':<{width}}    target {t.name} {s.name} \"…\"  {s.description}{choices} ({flag})")
