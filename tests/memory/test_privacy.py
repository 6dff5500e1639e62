"""Secrets are never stored; emails and phone numbers follow the per-layer policy."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from memory_server.app import Memory, open_memory
from memory_server.clock import ManualClock
from memory_server.config import PrivacySettings
from memory_server.embeddings import FakeEncoder, ReadyEmbedder
from memory_server.errors import RefusedContentError
from memory_server.memory import privacy
from memory_server.memory.checkpoints import NewCheckpoint
from memory_server.memory.facts import NewFact
from memory_server.memory.sessions import NewMessage
from memory_server.memory.tool_calls import NewToolCall
from tests.conftest import make_settings

# Examples are assembled from parts so this file itself holds no literal key a scanner would flag.
SECRETS = {
    "openai": "my key is sk-proj-" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9",
    "openai legacy": "sk-" + "T3BlbkFJ" + "aB1cD2eF3gH4iJ5kL6mN7oP8qR9sT0uV",
    "anthropic": "ANTHROPIC_KEY sk-ant-api03-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1",
    "aws access key id": "AKIA" + "IOSFODNN7EXAMPLE",
    "aws secret": "aws secret " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "github classic": "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    "github fine-grained": "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnop",
    "slack": "xoxb-" + "123456789012-abcdefghijKLMN",
    "google": "AIza" + "SyA1234567890abcdefghijklmnopqrstuv",
    "stripe": "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "jwt": "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "bearer": "Authorization: Bearer " + "abcdef0123456789abcdef0123",
    "pem": "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEpAIBAAKCAQEA",
    "openssh pem": "-----BEGIN OPENSSH " + "PRIVATE KEY-----",
    "password pair": "wifi password=hunter2",
    "passwd colon": "passwd: s3cr3t!",
    "secret pair": "secret=xyz123abc",
    "api_key quoted": "api_key = 'abc123def456'",
    "json pair": '{"password":"correct horse battery staple"}',
    "visa with spaces": "card 4111 1111 1111 1111 exp 12/27",
    "visa with dashes": "4111-1111-1111-1111",
    "mastercard": "pay with 5500005555555559",
    "amex": "amex 3782 822463 10005",
}

NEAR_MISSES = {
    "16-digit order number failing Luhn": "order 4111 1111 1111 1112 shipped",
    "sk-learn": "uses sk-learn (scikit-learn) for models",
    "slug after sk-": "branch sk-fix-the-login-page-timeout-today",
    "version string": "upgraded to v1.2.3-rc.4 and 10.0.19041.1234",
    "iso date": "born 1990-04-12, moved 2024-01-15T10:30:00Z",
    "password manager": "uses a password manager for everything",
    "password stored elsewhere": "password: stored in 1Password",
    "env var reference": "api_key=$OPENAI_API_KEY",
    "template reference": "api_key: ${OPENAI_API_KEY}",
    "uuid": "run 123e4567-e89b-12d3-a456-426614174000",
    "git sha": "commit 3f786850e387550fdab836ed7e6dc881de23001b",
    "git sha next to aws": "aws deploy at commit 3f786850e387550fdab836ed7e6dc881de23001b",
    "bearer prose": "Bearer tokens expire after an hour",
    "epoch milliseconds": "ts 1700000000000",
    "secret as a phrase": "secret: the surprise party is on Friday",
    "token count": "used 512 tokens",
}


@pytest.mark.parametrize("text", SECRETS.values(), ids=SECRETS.keys())
def test_common_secret_formats_are_recognized(text: str) -> None:
    assert privacy.find_secret(text) is not None


@pytest.mark.parametrize("text", NEAR_MISSES.values(), ids=NEAR_MISSES.keys())
def test_near_misses_are_not_taken_for_secrets(text: str) -> None:
    assert privacy.find_secret(text) is None


def test_card_numbers_are_luhn_checked() -> None:
    assert privacy.luhn_valid("4111111111111111")
    assert not privacy.luhn_valid("4111111111111112")


@pytest.mark.parametrize(
    ("text", "kinds", "redacted"),
    [
        ("mail alice@example.com today", ["email"], "mail [email] today"),
        ("call +1 415 555 2671", ["phone"], "call [phone]"),
        ("office (415) 555-2671", ["phone"], "office [phone]"),
        ("london +44 20 7946 0958", ["phone"], "london [phone]"),
        ("uk 020 7946 0958", ["phone"], "uk [phone]"),
        ("a@b.co or 415-555-2671", ["email", "phone"], "[email] or [phone]"),
    ],
)
def test_emails_and_phone_numbers_are_found_and_redacted(text: str, kinds: list[str], redacted: str) -> None:
    assert privacy.find_contacts(text) == kinds
    assert privacy.redact_contacts(text) == (redacted, kinds)


@pytest.mark.parametrize("text", ["2024-01-15", "v1.2.3", "id 4155552671", "192.168.1.10", "user@localhost"])
def test_dates_versions_ids_and_addresses_are_not_contacts(text: str) -> None:
    assert privacy.find_contacts(text) == []


def test_a_refusal_names_the_kind_and_field_advises_a_reference_and_never_repeats_the_secret() -> None:
    policy = privacy.PrivacyPolicy(PrivacySettings())
    with pytest.raises(RefusedContentError) as refused:
        policy.check(privacy.Write("facts", text={"content": SECRETS["stripe"]}))
    message = str(refused.value)
    assert "content contains a Stripe key" in message
    assert "store where the secret lives" in message.lower()
    assert "4eC39HqLyjWDarjtT1zdp7dc" not in message


def test_json_is_walked_for_secrets_in_values_names_and_name_value_pairs() -> None:
    policy = privacy.PrivacyPolicy(PrivacySettings())
    for state in (
        {"deep": [{"x": {"y": SECRETS["github classic"]}}]},
        {"creds": {"password": "hunter2"}},
        {"pin": 1234},
        {"card": 4111111111111111},
    ):
        with pytest.raises(RefusedContentError):
            policy.check(privacy.Write("checkpoints", data={"state": state}))
    fine = {"token": 512, "password": "$PW", "api_key": "op://vault/item/key", "secret": "the surprise party"}
    assert policy.check(privacy.Write("checkpoints", data={"state": fine})).value == {"state": fine}


def test_json_redaction_keeps_structure_and_never_merges_two_redacted_names() -> None:
    policy = privacy.PrivacyPolicy(PrivacySettings())
    state = {"who": {"email": "a@b.co", "tel": "+1 415 555 2671"}, "a@b.co": 1, "c@d.co": 2, "n": 3}
    checked = policy.check(privacy.Write("checkpoints", data={"state": state}))
    expected = {"who": {"email": "[email]", "tel": "[phone]"}, "[email]": 1, "[email]#2": 2, "n": 3}
    assert checked.value["state"] == expected
    assert checked.redacted == ["email", "phone"]


# -- every layer, on a real encrypted store ---------------------------------------------------


async def test_a_fact_holding_a_secret_is_refused_and_nothing_is_stored(memory: Memory) -> None:
    for text in (f"My OpenAI key is {SECRETS['openai']}", "Card: 4111 1111 1111 1111"):
        with pytest.raises(RefusedContentError, match="1Password item"):
            await memory.facts.remember("alice", NewFact(text))
    with pytest.raises(RefusedContentError):
        await memory.facts.remember("alice", NewFact("Works at ACME", tags=[SECRETS["slack"].split()[0]]))
    assert await memory.facts.count("alice") == 0


async def test_a_fact_keeps_emails_by_default_and_near_misses_are_stored(memory: Memory) -> None:
    kept = await memory.facts.remember("alice", NewFact("Her work email is alice@example.com"))
    assert kept.fact.content == "Her work email is alice@example.com"
    stored = await memory.facts.remember("alice", NewFact("Keeps passwords in a password manager, uses sk-learn"))
    assert stored.status == "created"


async def test_the_facts_policy_can_redact_or_refuse_contacts(tmp_path: Path, clock: ManualClock) -> None:
    for rule, home in (("redact", tmp_path / "r"), ("refuse", tmp_path / "f")):
        settings = make_settings(home, privacy={"facts": rule})
        async with open_memory(settings, embedder=ReadyEmbedder(FakeEncoder()), clock=clock) as memory:
            if rule == "redact":
                result = await memory.facts.remember("alice", NewFact("Call her on +1 415 555 2671"))
                assert result.fact.content == "Call her on [phone]"
            else:
                with pytest.raises(RefusedContentError, match=r"privacy.facts = 'refuse'"):
                    await memory.facts.remember("alice", NewFact("Call her on +1 415 555 2671"))
                assert await memory.facts.count("alice") == 0


async def test_a_session_message_or_summary_holding_a_secret_is_refused_whole(memory: Memory) -> None:
    started = await memory.sessions.append("alice", [NewMessage("user", "hello, my email is a@b.co")])
    with pytest.raises(RefusedContentError, match=r"messages\[1\]\.content contains a JSON Web Token"):
        await memory.sessions.append(
            "alice",
            [NewMessage("user", "fine"), NewMessage("tool", f"got {SECRETS['jwt']}")],
            session_id=started.session_id,
        )
    with pytest.raises(RefusedContentError, match="summary contains"):
        await memory.sessions.summarize(
            "alice", started.session_id, summary="User pasted password=hunter2", keep_recent=0
        )
    history = await memory.sessions.history("alice", started.session_id)
    assert [m.content for m in history] == ["hello, my email is a@b.co"]  # kept: sessions = "keep"


async def test_a_checkpoint_state_is_redacted_by_default_and_a_secret_anywhere_in_it_is_refused(
    memory: Memory,
) -> None:
    saved = await memory.checkpoints.save(
        "alice",
        NewCheckpoint("t-1", {"to": ["bob@example.com"], "notes": "call 415-555-2671"}, label="mail bob@example.com"),
    )
    assert saved.redacted == ["email", "phone"]
    restored = await memory.checkpoints.restore("alice", "t-1")
    assert restored.state == {"to": ["[email]"], "notes": "call [phone]"}
    assert restored.label == "mail [email]"
    with pytest.raises(RefusedContentError, match=r"state\.env\.AWS"):
        await memory.checkpoints.save("alice", NewCheckpoint("t-1", {"env": {"AWS": SECRETS["aws access key id"]}}))
    assert (await memory.checkpoints.history("alice", "t-1")).total == 1


async def test_a_tool_call_record_is_redacted_by_default_and_one_with_a_secret_is_refused(memory: Memory) -> None:
    from tests.memory.test_tool_calls import start_session, stored_calls

    session = await start_session(memory)
    recorded = await memory.tool_calls.record(
        "alice",
        NewToolCall(session, "send_mail", input={"to": "bob@example.com"}, output="sent to bob@example.com"),
    )
    assert recorded.redacted == ["email"]
    with pytest.raises(RefusedContentError, match="output contains a private key"):
        await memory.tool_calls.record("alice", NewToolCall(session, "read_file", output=SECRETS["pem"]))
    [(tool, _status, stored_input, stored_output, _length, _hash)] = await stored_calls(memory)
    assert (tool, stored_input, stored_output) == ("send_mail", '{"to":"[email]"}', "sent to [email]")


@pytest.mark.parametrize("filler", ["%", "a-", "1 ", "b.", "+1 ", "Ab1/"])
def test_scanning_a_long_hostile_text_stays_fast(filler: str) -> None:
    text = filler * (65_536 // len(filler)) + "@"
    policy = privacy.PrivacyPolicy(PrivacySettings(facts="redact"))
    started = time.perf_counter()
    privacy.find_secret(text)
    policy.check(privacy.Write("facts", text={"content": text}))
    assert time.perf_counter() - started < 1.5  # linear: ~0.05 s; a quadratic pattern took seconds
