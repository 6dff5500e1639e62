"""Secrets and personal data in stored text.

Secrets (API keys and tokens of common formats, private keys, `password=`-style pairs,
payment card numbers) are never stored: the text is refused with a message that tells the
agent to store where the secret lives instead. Email addresses and phone numbers follow a
policy per layer (`[privacy]` in the settings): keep, redact (replaced by `[email]` /
`[phone]`) or refuse.

Pure functions and one small policy object; nothing here touches the store. Messages never
repeat the secret itself, only its kind and where it was found.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from memory_server.config import PrivacySettings
from memory_server.errors import InvalidInputError, RefusedContentError

Layer = Literal["facts", "sessions", "checkpoints", "tool_calls"]
ContactKind = Literal["email", "phone"]

REFERENCE_ADVICE = (
    "Secrets are never stored. Store where the secret lives instead, e.g. 'API key is in 1Password item X' "
    "or 'token is in the env var GITHUB_TOKEN'."
)

# -- secrets ------------------------------------------------------------------------------

_TOKEN_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("an Anthropic API key", re.compile(r"(?<![\w-])sk-ant-[A-Za-z0-9_-]{20,}")),
    ("an OpenAI-style API key (sk-...)", re.compile(r"(?<![\w-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}")),
    ("a Stripe key", re.compile(r"(?<![\w-])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}")),
    ("an AWS access key id", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")),
    ("a GitHub token", re.compile(r"(?<![\w-])(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("a Slack token", re.compile(r"(?<![\w-])xox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", re.compile(r"(?<![\w-])AIza[A-Za-z0-9_-]{35}(?![\w-])")),
    ("a JSON Web Token", re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("a bearer token", re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*")),
)

# Random keys mix cases and digits; slugs like `sk-fix-the-login-page-today` do not.
_NEEDS_MIXED = {"an OpenAI-style API key (sk-...)", "an Anthropic API key"}

_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")

SECRET_KEY_NAMES = (
    "password|passwd|passphrase|secret|client[_-]?secret|api[_-]?key|apikey|access[_-]?token|auth[_-]?token|"
    "refresh[_-]?token|secret[_-]?key|private[_-]?key|aws[_-]?secret[_-]?access[_-]?key"
)
_PAIR = re.compile(
    rf"(?i)(?<![A-Za-z0-9])({SECRET_KEY_NAMES})[\"']?\s*[:=]\s*(?:\"([^\"\n]*)\"|'([^'\n]*)'|([^\s,;}}\]]+))"
)
_SECRET_KEY = re.compile(rf"(?i)^(?:{SECRET_KEY_NAMES}|token|pin)$")
# Passwords and passphrases may hold spaces; keys, tokens and "secret" values are one word.
_PHRASE_ALLOWED = re.compile(r"(?i)^(?:password|passwd|passphrase)$")

# Values that name a secret's place rather than hold it: `$API_KEY`, `${X}`, `<secret>`, `***`,
# `op://vault/item`, `env:NAME`, and words such as `stored in 1Password` or `see vault`.
_REFERENCE = re.compile(
    r"(?i)^(?:\$\{?\w+\}?|%\w+%|<[^>]*>|\*+|x{3,}|\.{3}|…|\[[^\]]*\]|\{\{[^}]*\}\}|"
    r"(?:op|vault|keychain|env|ref|file|secret|aws-sm|gcp-sm|azure-kv)://\S+|(?:env|vault|keychain|op):\S+|"
    r"null|none|nil|true|false|redacted|hidden|unset|empty|required|optional|changed|reset|set|same|see|in|is|"
    r"the|a|an|stored|kept|saved|managed|from|via|using|ask|check|not|no|yes|todo|tbd|n/a|-|—)$"
)
_MIN_SECRET_VALUE = 3

_CARD = re.compile(r"(?<![\d.])(?<!\d[ -])\d(?:[ -]?\d){11,18}(?![ -]?\d)")
# Issuer prefixes of the card networks; a Luhn-valid number without one (timestamps, order
# numbers) is not taken for a card.
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[0689]|35|6[0-9]|5[06-9])")


@dataclass(frozen=True)
class Secret:
    kind: str
    start: int


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _mixed(value: str) -> bool:
    return any(c.islower() for c in value) and any(c.isupper() for c in value) and any(c.isdigit() for c in value)


def holds_secret(name: str, value: str) -> bool:
    """Whether `value`, given under a secret-sounding `name`, looks like the secret itself."""
    if is_reference(value):
        return False
    return not any(c.isspace() for c in value.strip()) or bool(_PHRASE_ALLOWED.match(name))


def is_reference(value: str) -> bool:
    """A placeholder or the name of a secret's place, not the secret."""
    value = value.strip()
    return len(value) < _MIN_SECRET_VALUE or bool(_REFERENCE.match(value))


def find_secret(text: str) -> Secret | None:
    """The first secret in `text`, or None. Recognizes key formats, `password=` pairs and cards."""
    for kind, pattern in _TOKEN_PATTERNS:
        for match in pattern.finditer(text):
            if kind in _NEEDS_MIXED and not _mixed(match.group(0)):
                continue
            return Secret(kind, match.start())
    for match in _PAIR.finditer(text):
        value = next(group for group in match.groups()[1:] if group is not None)
        if holds_secret(match.group(1), value):
            return Secret("a password or key written as name=value", match.start())
    lowered = text.lower()
    if "aws" in lowered or "akia" in lowered:
        for match in _AWS_SECRET.finditer(text):
            if _mixed(match.group(0)):
                return Secret("an AWS secret access key", match.start())
    for match in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", match.group(0))
        if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and luhn_valid(digits):
            return Secret("a payment card number", match.start())
    return None


def find_secret_pair(key: str, value: Any) -> Secret | None:
    """A JSON member whose name says secret (`"password": "hunter2"`) and whose value holds one."""
    name = key.strip()
    if not _SECRET_KEY.match(name):
        return None
    if isinstance(value, str):
        held = holds_secret(name, value)
    else:  # a number: a PIN or a numeric password, but `"token": 512` counts tokens
        held = isinstance(value, int) and not isinstance(value, bool) and name.lower() != "token"
    return Secret(f"a secret in the member {name[:40]!r}", 0) if held else None


# -- contacts -----------------------------------------------------------------------------

# Bounded parts and a lookbehind keep every pattern linear on long hostile input.
_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}(?![\w-])"
)
_PHONE = re.compile(
    r"(?<![\w+.-])(?:"
    r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}"  # +44 20 7946 0958, +1-415-555-2671
    r"|\(\d{3}\)\s?\d{3}[ .-]\d{4}"  # (415) 555-2671
    r"|\d{3}[ .-]\d{3}[ .-]\d{4}"  # 415-555-2671
    r"|0\d{2,4}[ -]\d{3,4}[ -]\d{3,4}"  # 020 7946 0958
    r")(?![\w.-]?\d)"
)
PLACEHOLDERS: dict[ContactKind, str] = {"email": "[email]", "phone": "[phone]"}


def _phone_like(match: str) -> bool:
    digits = sum(c.isdigit() for c in match)
    return 8 <= digits <= 15


def find_contacts(text: str) -> list[ContactKind]:
    """The kinds of contact data in `text` (each kind once)."""
    found: list[ContactKind] = []
    if _EMAIL.search(text):
        found.append("email")
    if any(_phone_like(m.group(0)) for m in _PHONE.finditer(text)):
        found.append("phone")
    return found


def redact_contacts(text: str) -> tuple[str, list[ContactKind]]:
    """Replace emails and phone numbers by `[email]` / `[phone]`; also answer which kinds were replaced."""
    kinds: list[ContactKind] = []
    redacted, emails = _EMAIL.subn(PLACEHOLDERS["email"], text)
    if emails:
        kinds.append("email")

    def phone(match: re.Match[str]) -> str:
        return PLACEHOLDERS["phone"] if _phone_like(match.group(0)) else match.group(0)

    replaced = _PHONE.sub(phone, redacted)
    if replaced != redacted:
        kinds.append("phone")
    return replaced, kinds


# -- the policy ---------------------------------------------------------------------------


@dataclass
class Checked:
    """Text (or JSON) as it may be stored, and the kinds of contact data replaced in it."""

    value: Any
    redacted: list[ContactKind]


class PrivacyPolicy:
    """Applies the settings' `[privacy]` section: refuses secrets, keeps / redacts / refuses contacts."""

    def __init__(self, settings: PrivacySettings) -> None:
        self.settings = settings

    def _refuse_secret(self, secret: Secret, field: str) -> RefusedContentError:
        return RefusedContentError(f"{field} contains {secret.kind}; nothing was stored. {REFERENCE_ADVICE}")

    def text(self, value: str, *, layer: Layer, field: str) -> Checked:
        """Refuse a secret; apply the layer's contact policy. Answers the text to store."""
        secret = find_secret(value)
        if secret is not None:
            raise self._refuse_secret(secret, field)
        return self._contacts(value, layer=layer, field=field)

    def _contacts(self, value: str, *, layer: Layer, field: str) -> Checked:
        rule = getattr(self.settings, layer)
        if rule == "keep":
            return Checked(value, [])
        if rule == "redact":
            redacted, kinds = redact_contacts(value)
            return Checked(redacted, kinds)
        kinds = find_contacts(value)
        if kinds:
            what = " and ".join("an email address" if kind == "email" else "a phone number" for kind in kinds)
            raise RefusedContentError(
                f"{field} contains {what}; this server's privacy policy refuses them in {layer.replace('_', ' ')} "
                f"(privacy.{layer} = 'refuse'). Nothing was stored. Leave them out, or describe them "
                "('the user's work email')."
            )
        return Checked(value, [])

    def json(self, value: Any, *, layer: Layer, field: str) -> Checked:
        """The same for a JSON value: every string, every member name and every name/value pair."""
        for path, key, member in _members(value, field):
            secret = find_secret_pair(key, member)
            if secret is not None:
                raise self._refuse_secret(secret, path)
        for path, scalar in _scalars(value, field):
            secret = find_secret(str(scalar))
            if secret is not None:
                raise self._refuse_secret(secret, path)
        if getattr(self.settings, layer) == "keep":
            return Checked(value, [])
        kinds: list[ContactKind] = []
        try:
            result = self._rewrite(value, layer=layer, path=field, kinds=kinds)
        except RecursionError:
            raise InvalidInputError(f"{field} is nested too deeply. Flatten it: keep ids and short values.") from None
        return Checked(result, list(dict.fromkeys(kinds)))

    def _rewrite(self, value: Any, *, layer: Layer, path: str, kinds: list[ContactKind]) -> Any:
        if isinstance(value, str):
            checked = self._contacts(value, layer=layer, field=path)
            kinds.extend(checked.redacted)
            return checked.value
        if isinstance(value, Mapping):
            result: dict[str, Any] = {}
            for key, member in value.items():
                name = self._rewrite(key, layer=layer, path=f"{path} member name", kinds=kinds)
                unique, n = name, 2
                while unique in result:  # two redacted names must not overwrite each other
                    unique, n = f"{name}#{n}", n + 1
                result[unique] = self._rewrite(member, layer=layer, path=f"{path}.{key}", kinds=kinds)
            return result
        if isinstance(value, list):
            return [self._rewrite(item, layer=layer, path=f"{path}[{i}]", kinds=kinds) for i, item in enumerate(value)]
        return value


def _members(value: Any, path: str) -> Iterator[tuple[str, str, Any]]:
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, Mapping):
            for key, member in item.items():
                yield f"{where}.{key}", str(key), member
                stack.append((member, f"{where}.{key}"))
        elif isinstance(item, list):
            stack.extend((member, f"{where}[{i}]") for i, member in enumerate(item))


def _scalars(value: Any, path: str) -> Iterator[tuple[str, str | int]]:
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, Mapping):
            for key, member in item.items():
                yield f"{where} (a member name)", str(key)  # never echo what may be the secret
                stack.append((member, f"{where}.{key}"))
        elif isinstance(item, list):
            stack.extend((member, f"{where}[{i}]") for i, member in enumerate(item))
        elif isinstance(item, str) or (isinstance(item, int) and not isinstance(item, bool)):
            yield where, item


def refuse_secret(text: str, *, field: str) -> None:
    """Raise RefusedContentError if `text` holds a secret (for short fields: tags, names, labels)."""
    secret = find_secret(text)
    if secret is not None:
        raise RefusedContentError(f"{field} contains {secret.kind}; nothing was stored. {REFERENCE_ADVICE}")
