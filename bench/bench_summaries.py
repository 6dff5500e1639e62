"""What local summaries keep, and what consolidation leaves in long-term facts, on LoCoMo.

Run: HF_HUB_OFFLINE=1 python -m bench.bench_summaries [--data PATH] [--conversations 5] [--rounds 10]

The protocol of issue 13, through the real server over stdio, each conversation in its own
store: session by session, the conversation's turns are appended (both speakers as role
`user` with `name` = the speaker and `time` = the session's date; the text plus
` [shares an image: caption]` when there is one), then `summarize_session(keep_recent=0)`
folds them into the running summary, locally, with consolidation on (the default).

An evidence turn counts as kept by a text when at least 60% of its content words (stop words
and words of two letters or fewer left out) appear in it. For each question of categories 1-4
a score is the share of its evidence turns kept; scores are averaged over questions.

- fresh: kept in the summary made right after the evidence's session;
- final: kept in the last running summary;
- lead: kept in the conversation's first turns, as many as fit the final summary's tokens;
- recall@10: after the whole conversation, `search_facts(question, limit=10)`: an evidence
  turn counts when one of the ten facts keeps it.

Malformed evidence ids are repaired: "D8:6; D9:17" is split in two, "D:11:26" read as D11:26,
"D30:05" as D30:5; ids naming no turn are dropped (and so is a question left with none).

Latency: `summarize_session(keep_recent=0)` of 30-turn sessions, consolidation on and off
(`MEMORY_SERVER_SUMMARIES__CONSOLIDATE=false`), and `append_messages` of one message per call.
Targets: fresh >= 0.35 with summaries <= 30% of the tokens they fold; final >= 1.5 x lead;
recall@10 >= 0.45; summarize p50 <= 500 ms with consolidation on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import ROOT, call, p50, p95, print_table, spawn, timed
from memory_server.memory.informative import content_words
from memory_server.memory.text import estimate_tokens

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "locomo-dev" / "locomo10-dev.json"
KEPT_SHARE = 0.6
TARGETS = {"fresh": 0.35, "share": 0.30, "final_over_lead": 1.5, "recall": 0.45, "summarize_ms": 500.0}
_EVIDENCE = re.compile(r"D:?(\d+):(\d+)")


@dataclass
class Turn:
    dia_id: str
    session: int
    speaker: str
    text: str
    words: set[str]


@dataclass
class Conversation:
    name: str
    sessions: list[tuple[int, str, list[Turn]]]  # number, ISO time, turns
    questions: list[tuple[str, list[str]]]  # question, evidence ids

    @property
    def turns(self) -> dict[str, Turn]:
        return {t.dia_id: t for _, _, turns in self.sessions for t in turns}


@dataclass
class Scores:
    fresh: list[float] = field(default_factory=list)
    final: list[float] = field(default_factory=list)
    lead: list[float] = field(default_factory=list)
    recall: list[float] = field(default_factory=list)
    shares: list[float] = field(default_factory=list)  # each summary's tokens / the turns' tokens it covers
    final_tokens: list[int] = field(default_factory=list)
    folded_tokens: list[int] = field(default_factory=list)
    facts: list[int] = field(default_factory=list)


def evidence_ids(evidence: Sequence[str]) -> list[str]:
    found = []
    for item in evidence:
        for part in re.split(r"[;,\s]+", item):
            if match := _EVIDENCE.fullmatch(part.strip()):
                found.append(f"D{int(match.group(1))}:{int(match.group(2))}")
    return found


def load(path: Path, limit: int) -> list[Conversation]:
    conversations = []
    for record in json.loads(path.read_text())[:limit]:
        talk = record["conversation"]
        numbers = sorted(int(key.split("_")[1]) for key in talk if re.fullmatch(r"session_\d+", key) and talk[key])
        sessions = []
        for number in numbers:
            said = datetime.strptime(talk[f"session_{number}_date_time"], "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)
            turns = []
            for turn in talk[f"session_{number}"]:
                text = turn["text"] + (
                    f" [shares an image: {turn['blip_caption']}]" if turn.get("blip_caption") else ""
                )
                turns.append(Turn(turn["dia_id"], number, turn["speaker"], text, set(content_words(text))))
            sessions.append((number, said.isoformat(), turns))
        conversation = Conversation(record["sample_id"], sessions, [])
        known = conversation.turns
        for qa in record["qa"]:
            ids = [i for i in evidence_ids(qa["evidence"]) if i in known]
            if qa["category"] in (1, 2, 3, 4) and ids:
                conversation.questions.append((qa["question"], ids))
        conversations.append(conversation)
    return conversations


def kept(turn: Turn, words: set[str]) -> bool:
    return bool(turn.words) and len(turn.words & words) / len(turn.words) >= KEPT_SHARE


def share_kept(ids: Sequence[str], turns: dict[str, Turn], words_of: Any) -> float:
    return sum(kept(turns[i], words_of(turns[i])) for i in ids) / len(ids)


async def run_conversation(conversation: Conversation, scores: Scores) -> None:
    turns = conversation.turns
    fresh: dict[int, set[str]] = {}
    final = ""
    folded = 0
    with tempfile.TemporaryDirectory() as home:
        async with spawn(Path(home)) as client:
            await call(client, "search_facts", {"query": "warm up"})
            session_id: str | None = None
            facts = 0
            for number, when, said in conversation.sessions:
                messages = [{"role": "user", "name": t.speaker, "content": t.text, "time": when} for t in said]
                arguments: dict[str, Any] = {"messages": messages}
                if session_id:
                    arguments["session_id"] = session_id
                session_id = (await call(client, "append_messages", arguments))["session_id"]
                done = await call(client, "summarize_session", {"session_id": session_id, "keep_recent": 0})
                final = done["summary"]
                folded += sum(estimate_tokens(t.text) for t in said)
                scores.shares.append(estimate_tokens(final) / folded)
                fresh[number] = set(content_words(final))
                facts += len((done.get("consolidated") or {}).get("created", []))
            scores.facts.append(facts)
            final_words = set(content_words(final))
            budget = estimate_tokens(final)
            lead, used = [], 0
            for _, _, said in conversation.sessions:
                for t in said:
                    line = f"{t.speaker}: {t.text}"
                    if used + estimate_tokens(line) > budget:
                        break
                    lead.append(line)
                    used += estimate_tokens(line)
                else:
                    continue
                break
            lead_words = set(content_words("\n".join(lead)))
            for question, ids in conversation.questions:
                scores.fresh.append(share_kept(ids, turns, lambda t: fresh[t.session]))
                scores.final.append(share_kept(ids, turns, lambda _t: final_words))
                scores.lead.append(share_kept(ids, turns, lambda _t: lead_words))
                hits = (await call(client, "search_facts", {"query": question, "limit": 10}))["hits"]
                found = [set(content_words(hit["fact"]["content"])) for hit in hits]
                scores.recall.append(sum(any(kept(turns[i], words) for words in found) for i in ids) / len(ids))
    scores.final_tokens.append(budget)
    scores.folded_tokens.append(folded)


async def time_summaries(
    conversations: Sequence[Conversation], rounds: int, *, consolidate: bool
) -> tuple[list[float], list[float]]:
    """summarize_session of `rounds` fresh 30-turn sessions; append_messages of one message."""
    pool = [t for c in conversations for _, _, said in c.sessions for t in said]
    env = {"MEMORY_SERVER_SUMMARIES__CONSOLIDATE": "true" if consolidate else "false"}
    summarize: list[float] = []
    append: list[float] = []
    with tempfile.TemporaryDirectory() as home:
        async with spawn(Path(home), env=env) as client:
            await call(client, "search_facts", {"query": "warm up"})
            for round_ in range(rounds):
                chunk = pool[round_ * 30 : round_ * 30 + 30]
                messages = [{"role": "user", "name": t.speaker, "content": t.text} for t in chunk]
                session_id = (await call(client, "append_messages", {"messages": messages}))["session_id"]
                arguments = {"session_id": session_id, "keep_recent": 0}
                summarize.append(await timed(partial(call, client, "summarize_session", arguments)))
            if not consolidate:
                session_id = (await call(client, "append_messages", {"messages": messages[:1]}))["session_id"]
                for t in pool[: rounds * 10]:
                    one = {
                        "session_id": session_id,
                        "messages": [{"role": "user", "name": t.speaker, "content": t.text}],
                    }
                    append.append(await timed(partial(call, client, "append_messages", one)))
    return summarize, append


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


async def run(path: Path, limit: int, rounds: int) -> int:
    conversations = load(path, limit)
    scores = Scores()
    per_conversation = []
    for conversation in conversations:
        one = Scores()
        await run_conversation(conversation, one)
        per_conversation.append(
            [
                conversation.name,
                len(one.fresh),
                mean(one.fresh),
                mean(one.final),
                mean(one.lead),
                f"{one.final_tokens[0]} / {one.folded_tokens[0]}",
                one.facts[0],
                mean(one.recall),
            ]
        )
        for name in vars(scores):
            getattr(scores, name).extend(getattr(one, name))
    on, _ = await time_summaries(conversations, rounds, consolidate=True)
    off, append = await time_summaries(conversations, rounds, consolidate=False)

    header = ["conversation", "questions", "fresh", "final", "lead", "final tokens / folded", "facts", "recall@10"]
    total = [
        "all",
        len(scores.fresh),
        mean(scores.fresh),
        mean(scores.final),
        mean(scores.lead),
        f"{sum(scores.final_tokens)} / {sum(scores.folded_tokens)}",
        sum(scores.facts),
        mean(scores.recall),
    ]
    print_table("Evidence kept (LoCoMo dev half, issue 13 protocol)", header, [*per_conversation, total])
    share = max(scores.shares)
    ratio = mean(scores.final) / mean(scores.lead)
    checks = [
        ["fresh evidence kept", mean(scores.fresh), f">= {TARGETS['fresh']}", mean(scores.fresh) >= TARGETS["fresh"]],
        ["summary tokens / folded tokens (largest)", share, f"<= {TARGETS['share']}", share <= TARGETS["share"]],
        ["summary tokens / folded tokens (mean)", mean(scores.shares), "-", True],
        ["final / lead", ratio, f">= {TARGETS['final_over_lead']}", ratio >= TARGETS["final_over_lead"]],
        ["recall@10 via search_facts", mean(scores.recall), f">= {TARGETS['recall']}", mean(scores.recall) >= 0.45],
        ["summarize 30 turns p50 ms, consolidation on", p50(on), "<= 500", p50(on) <= TARGETS["summarize_ms"]],
        ["summarize 30 turns p95 ms, consolidation on", p95(on), "-", True],
        ["summarize 30 turns p50 ms, consolidation off", p50(off), "-", True],
        ["append_messages p50 ms (one message)", p50(append), "-", True],
        ["append_messages p95 ms (one message)", p95(append), "-", True],
    ]
    print_table(
        "Targets",
        ["measure", "value", "target", "verdict"],
        [[name, value, target, "ok" if good else "FAIL"] for name, value, target, good in checks],
    )
    return 0 if all(good for *_, good in checks) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--conversations", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=10, help="30-turn sessions timed per setting")
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"skipped: no LoCoMo data at {args.data} (give --data PATH)")
        return 0
    return asyncio.run(run(args.data, args.conversations, args.rounds))


if __name__ == "__main__":
    sys.exit(main())
