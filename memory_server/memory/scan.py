"""Records stored before today's privacy rules: count the ones those rules would refuse, per
layer, and remove them on request.

The rules tighten over time (new key formats, normalization against evasions), so a store can
hold what a write today would refuse. Each stored record is described as its write path
describes it and put through the same `PrivacyPolicy.check`. Removal is physical (secure_delete
is on) and leaves one audit row per layer with the ids, never the content. A session whose
name is refused keeps its messages; only the name is cleared.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from memory_server.memory import audit, privacy
from memory_server.memory.checkpoints import checkpoint_write
from memory_server.memory.sessions import message_write, session_write, summary_write
from memory_server.memory.tool_calls import tool_call_write
from memory_server.store import facts as fact_rows
from memory_server.store import scan as rows

if TYPE_CHECKING:
    from memory_server.app import Memory

log = logging.getLogger(__name__)

MAX_IDS_SHOWN = 100


class LayerScan(BaseModel):
    layer: str
    scanned: int = Field(description="Records read")
    refused: int = Field(description="Records today's rules would refuse")
    ids: list[int | str] = Field(description=f"Their ids (at most {MAX_IDS_SHOWN}); never their content")
    removed: int = Field(0, description="Records removed (names cleared, for sessions)")


class ScanReport(BaseModel):
    user_id: str
    layers: list[LayerScan]
    refused: int
    removed: int


def _write(layer: str, values: dict[str, Any]) -> privacy.Write:
    """A stored record described as the write path that stores it describes it."""
    if layer == "facts":
        tags = {f"tags[{i}]": tag for i, tag in enumerate(values["tags"])}
        return privacy.Write(
            "facts", text={"content": values["content"]}, names={"category": values["category"], **tags}
        )
    if layer == "sessions":
        return session_write(values["agent_name"])
    if layer == "messages":
        return message_write("message", values["content"], values["name"])
    if layer == "summaries":
        return summary_write(values["content"])
    if layer == "checkpoints":
        return checkpoint_write(values["thread_id"], values["label"], values["state"])
    return tool_call_write(values["tool_name"], values["input"], values["output"])


async def scan(memory: Memory, *, remove: bool = False) -> ScanReport:
    """Count (and with `remove`, remove) the user's stored records that today's rules refuse."""
    policy = privacy.PrivacyPolicy(memory.settings.privacy)
    user_id = memory.user_id
    found: dict[str, tuple[int, list[Any]]] = {}
    async with memory.db.read() as conn:
        for layer in rows.LAYERS:
            scanned, refused = 0, []
            async for key, values in rows.records(conn, layer, user_id):
                scanned += 1
                if policy.refusal(_write(layer, values)) is not None:
                    refused.append(key)
            found[layer] = (scanned, refused)
    removed: dict[str, int] = {}
    if remove and any(refused for _, refused in found.values()):
        async with memory.db.write() as conn:
            now = memory.db.clock()
            for layer, (_, refused) in found.items():
                if not refused:
                    continue
                if layer == "facts":
                    await fact_rows.erase(conn, refused)
                elif layer == "sessions":
                    await rows.clear_agent_names(conn, user_id, refused)
                else:
                    await rows.delete(conn, layer, user_id, refused)
                await audit.record(conn, now, user_id, audit.RECORDS_REMOVED, refused, layer=layer, count=len(refused))
                removed[layer] = len(refused)
        log.info("removed records today's privacy rules refuse for user %s: %s", user_id, removed)
    layers = [
        LayerScan(
            layer=layer,
            scanned=scanned,
            refused=len(refused),
            ids=refused[:MAX_IDS_SHOWN],
            removed=removed.get(layer, 0),
        )
        for layer, (scanned, refused) in found.items()
    ]
    return ScanReport(
        user_id=user_id,
        layers=layers,
        refused=sum(layer.refused for layer in layers),
        removed=sum(removed.values()),
    )
