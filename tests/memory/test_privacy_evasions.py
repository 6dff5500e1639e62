"""The secrets rule against evasions (item 5 of issue 10): generated secrets, disguised the
ways people and models disguise them, are refused by the one policy; their near-misses
(versions, dates, UUIDs, git SHAs, order numbers, timestamps) are kept."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memory_server.config import PrivacySettings
from memory_server.errors import RefusedContentError
from memory_server.memory import privacy

POLICY = privacy.PrivacyPolicy(PrivacySettings())
BASE62 = string.ascii_letters + string.digits
BASE32 = string.ascii_uppercase + "234567"
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
SEPARATORS = [" ", "  ", ".", "/", "-"]
PROSE_BEFORE = ["", "my key is ", "Use this: ", "note (", "the token "]
PROSE_AFTER = ["", " thanks", ") for prod", ". It expires in 2027.", " and the rest"]


def refused(text: str) -> str | None:
    """The refusal message, or None when the policy keeps the text."""
    try:
        POLICY.check(privacy.Write("facts", text={"content": text}))
    except RefusedContentError as error:
        return str(error)
    return None


def with_luhn_digit(digits: str) -> str:
    for last in "0123456789":
        if privacy.luhn_valid(digits + last):
            return digits + last
    raise AssertionError("unreachable")


def mixed(draw: st.DrawFn, size: int) -> str:
    """A random key body with a lower-case letter, a capital and a digit, as real keys have."""
    body = draw(st.text(BASE62, min_size=size - 3, max_size=size - 3))
    return (
        body + draw(st.sampled_from("abcxyz")) + draw(st.sampled_from("ABCXYZ")) + draw(st.sampled_from("0123456789"))
    )


@st.composite
def keys(draw: st.DrawFn) -> tuple[str, str]:
    """(prefix, body) of a key of a known format."""
    kind = draw(st.sampled_from(["anthropic", "aws", "google", "github", "card"]))
    if kind == "anthropic":
        return "sk-ant-api03-", mixed(draw, 40)
    if kind == "aws":
        body = draw(st.text(BASE32, min_size=15, max_size=15))
        digit_at = draw(st.integers(0, 15))
        return "AKIA", body[:digit_at] + draw(st.sampled_from("234567")) + body[digit_at:]
    if kind == "google":
        return "AIza", mixed(draw, 35)
    if kind == "github":
        return "ghp_", mixed(draw, 36)
    first = draw(st.sampled_from(["4", "51", "52", "53", "54", "55"]))
    digits = first + draw(st.text("0123456789", min_size=15 - len(first), max_size=15 - len(first)))
    return "", with_luhn_digit(digits)


@st.composite
def disguised(draw: st.DrawFn) -> tuple[str, str]:
    """(the secret as stored plainly, the text that carries it disguised)."""
    prefix, body = draw(keys())
    plain = prefix + body
    text = plain
    evasion = draw(st.sampled_from(["groups", "after prefix", "zero width", "full width", "lower case", "none"]))
    if evasion == "groups" or not prefix:  # cards: always in groups of 4 with one separator
        size = 4 if not prefix else draw(st.integers(3, 6))
        separator = draw(st.sampled_from(SEPARATORS))
        if prefix and separator == "-" and prefix != "AKIA":
            separator = " "  # a dash is a key character in these formats, not a disguise
        groups = [text[i : i + size] for i in range(0, len(text), size)]
        text = separator.join(groups)
    elif evasion == "after prefix":
        text = prefix + draw(st.sampled_from([" ", "  "])) + body
    elif evasion == "zero width":
        at = draw(st.integers(1, len(text) - 1))
        text = text[:at] + draw(st.sampled_from(ZERO_WIDTH)) + text[at:]
    elif evasion == "full width":
        text = "".join(chr(ord(c) + 0xFEE0) for c in prefix) + body
    elif evasion == "lower case" and prefix == "AKIA":
        text = text.lower()
    return plain, draw(st.sampled_from(PROSE_BEFORE)) + text + draw(st.sampled_from(PROSE_AFTER))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(disguised())
def test_a_disguised_secret_is_refused_and_the_refusal_never_quotes_it(case: tuple[str, str]) -> None:
    plain, text = case
    message = refused(text)
    assert message is not None, f"stored: {text!r}"
    body = plain[-12:]
    assert body not in message and body.lower() not in message.lower()
    assert "nothing was stored" in message


@st.composite
def near_misses(draw: st.DrawFn) -> str:
    year, month, day = draw(st.integers(1990, 2039)), draw(st.integers(1, 12)), draw(st.integers(1, 28))
    kind = draw(st.sampled_from(["version", "date", "uuid", "sha", "order", "epoch", "sk-learn", "password reference"]))
    if kind == "version":
        numbers = draw(st.lists(st.integers(0, 20000), min_size=2, max_size=4))
        return "v" + ".".join(map(str, numbers)) + draw(st.sampled_from(["", "-rc.1", "-beta2"]))
    if kind == "date":
        return draw(
            st.sampled_from(
                [
                    f"{year}-{month:02}-{day:02}",
                    f"{day:02}.{month:02}.{year}",
                    f"{year}/{month:02}/{day:02}",
                    f"{year}-{month:02}-{day:02}T10:30:00Z",
                ]
            )
        )
    if kind == "uuid":
        return str(draw(st.uuids()))
    if kind == "sha":
        return draw(st.binary(min_size=20, max_size=20)).hex()
    if kind == "order":  # a card-like number that fails the Luhn check, grouped like a card
        digits = with_luhn_digit("4" + draw(st.text("0123456789", min_size=14, max_size=14)))
        wrong = digits[:-1] + str((int(digits[-1]) + draw(st.integers(1, 9))) % 10)
        separator = draw(st.sampled_from(["", *SEPARATORS]))
        return separator.join(wrong[i : i + 4] for i in range(0, 16, 4))
    if kind == "epoch":
        return str(draw(st.integers(1_000_000_000_000, 1_999_999_999_999)))
    if kind == "sk-learn":
        return draw(st.sampled_from(["sk-learn", "scikit-learn (sk-learn) 1.4.2", "sk-learn==1.5.0"]))
    return draw(st.sampled_from(["my password is in 1Password", "the password is stored in Bitwarden"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(near_misses(), min_size=1, max_size=4), st.sampled_from([" ", ", ", " and ", "; "]))
def test_near_misses_are_kept(parts: list[str], joiner: str) -> None:
    text = "Noted: " + joiner.join(parts)
    assert refused(text) is None, text


# -- the fixed examples of the issue ---------------------------------------------------------

ANTHROPIC = "sk-ant-api03-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0"
AWS_ID = "AKIA" + "IOSFODNN7EXAMPLE"


@pytest.mark.parametrize(
    "text",
    [
        " ".join(ANTHROPIC[i : i + 4] for i in range(0, len(ANTHROPIC), 4)),  # a space every 4 characters
        "sk-ant- " + ANTHROPIC[7:],  # a space after the prefix
        "AKIA IOSF ODNN 7EXA MPLE",
        AWS_ID.lower(),
        ANTHROPIC[:15] + "\u200b" + ANTHROPIC[15:],  # a zero-width space inside
        "ｓｋ－ａｎｔ－" + ANTHROPIC[7:],  # a full-width prefix
        "4111  1111  1111  1111",
        "4111.1111.1111.1111",
        "4111/1111/1111/1111",
        "My password is hunter2",
        "pw=hunter2x9",
        "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi6Ny0bXyBYXZsCz0HcR1cs4l0PzDoQ4mJ7Ym8w2RbZ\nQ0A1mE9",  # PEM body
        "-----END RSA " + "PRIVATE KEY-----",
    ],
)
def test_each_evasion_named_in_the_issue_is_refused(text: str) -> None:
    assert refused(text) is not None


def test_a_password_written_out_is_refused_but_a_reference_to_its_place_is_kept() -> None:
    assert refused("My password is hunter2") is not None
    assert refused("my password is in 1Password") is None
    assert refused("the password is wrong again") is None


@pytest.mark.parametrize("field", ["category", "tags[0]"])
@pytest.mark.parametrize("secret", [AWS_ID, ANTHROPIC, "AIza" + "SyA1234567890abcdefghijklmnopqrstuv"])
def test_a_secret_in_a_label_is_refused_before_it_is_lower_cased(field: str, secret: str) -> None:
    with pytest.raises(RefusedContentError) as error:
        POLICY.check(privacy.Write("facts", text={"content": "Works at ACME"}, names={field: secret}))
    assert f"{field} contains" in str(error.value)
    assert secret[4:] not in str(error.value) and secret[4:].lower() not in str(error.value)


def test_an_id_cannot_be_redacted_so_contacts_in_it_are_refused_where_the_layer_redacts() -> None:
    write = privacy.Write("checkpoints", handles={"thread_id": "call-alice@example.com"})
    with pytest.raises(RefusedContentError, match="it is an id, which cannot be redacted"):
        POLICY.check(write)
    kept = privacy.PrivacyPolicy(PrivacySettings(checkpoints="keep")).check(write)
    assert kept.value == {"thread_id": "call-alice@example.com"}


def test_a_refusal_inside_a_state_never_names_a_path_through_a_secret_member_name() -> None:
    state = {"jobs": {ANTHROPIC: {"password": "hunter2"}}}
    with pytest.raises(RefusedContentError) as error:
        POLICY.check(privacy.Write("checkpoints", data={"state": state}))
    assert "state.jobs (a member name) contains an Anthropic API key" in str(error.value)
    assert ANTHROPIC[13:] not in str(error.value)
