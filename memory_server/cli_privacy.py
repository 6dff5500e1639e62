"""`memory-server scan-secrets`: find (and remove) stored records today's privacy rules refuse."""

from __future__ import annotations

from typing import Any

import click


@click.command("scan-secrets")
@click.option("--remove", is_flag=True, help="Remove them (physically; one audit row per layer).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def scan_secrets(ctx: click.Context, remove: bool, as_json: bool) -> None:
    """Count the stored records that today's secrets and privacy rules would refuse, per layer
    (records stored by an older version, or under a looser [privacy] setting); --remove removes
    them. Never prints their content. Exit code 1 when some remain.

    Example:

        memory-server scan-secrets --remove
    """
    from memory_server.cli import _run
    from memory_server.console import rows_table
    from memory_server.memory.scan import scan

    async def work(memory: Any) -> Any:
        return await scan(memory, remove=remove)

    report = _run(ctx, work)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    else:
        rows_table(
            f"Records today's rules refuse (user {report.user_id})",
            ["layer", "scanned", "refused", "removed", "ids"],
            [
                (layer.layer, layer.scanned, layer.refused, layer.removed, " ".join(map(str, layer.ids[:10])))
                for layer in report.layers
            ],
        )
        if report.refused and not remove:
            click.echo("Run `memory-server scan-secrets --remove` to remove them.", err=True)
    if report.refused > report.removed:
        raise SystemExit(1)
