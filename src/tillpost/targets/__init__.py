"""Payload targets: canonical entries → an accounting package's import format."""

from __future__ import annotations

import sys

import click


def render_to(result, ruleset, target: str, out: str | None) -> None:
    click.echo(f"tillpost: unknown target '{target}'", err=True)
    sys.exit(2)
