"""Secrets and personal data in stored text.

Secrets (API keys and tokens of common formats, private keys, `password=`-style pairs,
payment card numbers) are never stored: the text is refused with a message that tells the
agent to store where the secret lives instead. Email addresses and phone numbers follow a
policy per layer (`[privacy]` in the settings): keep, redact (replaced by `[email]` /
`[phone]`) or refuse.

Every write path (tools, CLI, import, and `scan-secrets` re-checking what is stored) describes
its record as a `Write` and calls `PrivacyPolicy.check`: one rule for every field of every
layer. Text is normalized before matching (NFKC, invisible characters removed, separators
between a key's groups removed), so spaced, full-width or zero-width-split keys are found;
encoded ones (base64, hex, reversed) are not.

Pure functions and one small policy object; nothing here touches the store. Messages never
repeat the secret itself, only its kind and where it was found.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from memory_server.config import ContactPolicy, PrivacySettings
from memory_server.errors import InvalidInputError, RefusedContentError

Layer = Literal["facts", "sessions", "checkpoints", "tool_calls"]
ContactKind = Literal["email", "phone"]

REFERENCE_ADVICE = (
    "Secrets are never stored. Store where the secret lives instead, e.g. 'API key is in 1Password item X' "
    "or 'token is in the env var GITHUB_TOKEN'."
)

# -- secrets ------------------------------------------------------------------------------

_TOKEN_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a private key", re.compile(r"-----(?:BEGIN|END) (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    # A PEM body without its armour: base64 DER (keys and certificates start "MII"), ed25519 / EC
    # private keys and OpenSSH keys.
    (
        "a private key",
        re.compile(
            r"(?<![A-Za-z0-9+/])(?:MII[A-Za-z0-9+/]{60}|MC4CAQ[A-Za-z0-9+/]{20}|MHcCAQ[A-Za-z0-9+/]{20}|"
            r"b3BlbnNzaC1rZXktdjE)"
        ),
    ),
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
# The same keys once the separators between their groups are gone (see `_compact`): no end
# boundary, since the next group may have been joined on. An AWS key id needs a digit here, and
# only AKIA: `ASIA TOUR 2024` is a word.
_COMPACT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an Anthropic API key", re.compile(r"(?<![\w-])sk-ant-[A-Za-z0-9_-]{20,}")),
    ("an OpenAI-style API key (sk-...)", re.compile(r"(?<![\w-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}")),
    ("a Stripe key", re.compile(r"(?<![\w-])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}")),
    ("an AWS access key id", re.compile(r"(?<![A-Za-z0-9])AKIA(?=[A-Z]*[0-9])[A-Z0-9]{16}")),
    ("a GitHub token", re.compile(r"(?<![\w-])(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("a Slack token", re.compile(r"(?<![\w-])xox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", re.compile(r"(?<![\w-])AIza[A-Za-z0-9_-]{35}")),
)
# Where a compact pattern can start: without one, the text need not be compacted.
_COMPACT_PREFIX = re.compile(r"(?<![\w-])(?:sk[-_]|rk_|gh[pousr]_|github_pat_|xox[abposr]-|AIza)|(?<![A-Za-z0-9])AKIA")
# With every space, dot and slash removed (a key split anywhere, its prefix too): only the distinctive
# prefixes, and no start boundary, since the word before is glued on too.
_SQUEEZED_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an Anthropic API key", re.compile(r"sk-ant-[A-Za-z0-9_-]{20,}")),
    ("a Stripe key", re.compile(r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}")),
    ("an AWS access key id", re.compile(r"AKIA(?=[A-Z]*[0-9])[A-Z0-9]{16}")),
    ("a GitHub token", re.compile(r"gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}")),
    ("a Slack token", re.compile(r"xox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", re.compile(r"AIza[A-Za-z0-9_-]{35}")),
)
_SPACES = re.compile(r"[ \t./\\]+")
# Dashes too, for the formats with none in them.
_DASHED_PATTERNS = tuple((kind, pattern) for kind, pattern in _SQUEEZED_PATTERNS if "AWS" in kind or "GitHub" in kind)
_SPACES_AND_DASHES = re.compile(r"[ \t./\\-]+")
# An AWS key id typed in lower case: rarer in prose than in keys only with a digit in it.
_AWS_ID_ANY_CASE = re.compile(r"(?i)(?<![a-z0-9])(?:akia|asia)(?=[a-z]*[0-9])[a-z0-9]{16}(?![a-z0-9])")

# Random keys mix cases and digits; slugs like `sk-fix-the-login-page-today` do not.
_NEEDS_MIXED = {"an OpenAI-style API key (sk-...)", "an Anthropic API key"}

_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")

SECRET_KEY_NAMES = (
    "password|passwd|passphrase|pw|pwd|secret|client[_-]?secret|api[_-]?key|apikey|access[_-]?token|"
    "auth[_-]?token|refresh[_-]?token|secret[_-]?key|private[_-]?key|aws[_-]?secret[_-]?access[_-]?key"
)
_PAIR = re.compile(
    rf"(?i)(?<![A-Za-z0-9])({SECRET_KEY_NAMES})[\"']?\s*[:=]\s*(?:\"([^\"\n]*)\"|'([^'\n]*)'|([^\s,;}}\]]+))"
)
# "my password is hunter2": only a value that looks made up (a digit, a symbol or an inner
# capital) counts; "my password is in 1Password" names a place and is kept.
_PHRASE = re.compile(
    r"(?i)(?<![A-Za-z0-9])(password|passwd|passphrase|passcode|pw|pwd|pin)\s+(?:is|was|reads)\s+(?:now\s+)?"
    r"[\"'“‘]?([^\s\"'”’,;]+)"
)
_MADE_UP = re.compile(r"\d|[^\w.!?]|.[A-Z]")
_SECRET_KEY = re.compile(rf"(?i)^(?:{SECRET_KEY_NAMES}|token|pin)$")
# Passwords and passphrases may hold spaces; keys, tokens and "secret" values are one word.
_PHRASE_ALLOWED = re.compile(r"(?i)^(?:password|passwd|passphrase)$")

# Values that name a secret's place rather than hold it: `$API_KEY`, `${X}`, `<secret>`, `***`,
# `op://vault/item`, `env:NAME`, a password manager, and words such as `stored in 1Password` or `see vault`.
_REFERENCE = re.compile(
    r"(?i)^(?:\$\{?\w+\}?|%\w+%|<[^>]*>|\*+|x{3,}|\.{3}|…|\[[^\]]*\]|\{\{[^}]*\}\}|"
    r"(?:op|vault|keychain|env|ref|file|secret|aws-sm|gcp-sm|azure-kv)://\S+|(?:env|vault|keychain|op):\S+|"
    r"(?:1password|bitwarden|lastpass|keepass\w*|dashlane|keychain|vault)(?:'s)?[.!]?|"
    r"null|none|nil|true|false|redacted|hidden|unset|empty|required|optional|changed|reset|set|same|see|in|is|"
    r"the|a|an|stored|kept|saved|managed|from|via|using|ask|check|not|no|yes|todo|tbd|n/a|-|—)$"
)
_MIN_SECRET_VALUE = 3

_CARD = re.compile(r"(?<![\w.])\d{13,19}(?!\w|\.\d)")
# A card written in groups (4-4-4-4, 4-6-5, 4-4-4-4-3) with one separator repeated: spaces, dots,
# slashes or dashes. Not inside a longer run of groups.
_CARD_GROUPED = re.compile(
    r"(?<![\w.])(?<!\d[ \t./-])(?<!\d[ \t]{2})(?<!\d[ \t]{3})"
    r"\d{4}(?P<sep>[ \t]{1,3}|[ \t]?[./-][ \t]?)\d{4,6}(?:(?P=sep)\d{3,5}){1,3}(?!\w|(?P=sep)\d)"
)
# Issuer prefixes of the card networks; a Luhn-valid number without one (timestamps, order
# numbers) is not taken for a card.
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[0689]|35|6[0-9]|5[06-9])")

# Separators a key's groups may be split by: 1-3 spaces or tabs, a dot, slash, backslash or dash.
_GAP = re.compile(r"([ \t]{1,3}|[./\\-])")
_GROUP = re.compile(r"[A-Za-z0-9_]+")


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


def fold(text: str) -> str:
    """The text as a matcher should see it: Unicode NFKC (full-width and other look-alike forms
    become ASCII) and without invisible format characters (zero-width spaces, joiners, soft hyphens)."""
    if text.isascii():  # already NFKC, and every format character is beyond ASCII
        return text
    folded = unicodedata.normalize("NFKC", text)
    return "".join(c for c in folded if unicodedata.category(c) != "Cf")


def _chunky(token: str) -> bool:
    """A group of a split key rather than a word: it holds a digit or a capital after its first letter."""
    return any(c.isdigit() for c in token) or any(c.isupper() for c in token[1:])


def _compact(folded: str) -> str:
    """The text with the separators between a key's groups removed: `AKIA IOSF ODNN 7EXA MPLE`
    and `sk-ant- api03-Ab1C dE2f…` become whole keys, while words stay apart. A group joins
    when it looks like part of a key (a digit or an inner capital), or when it follows such a
    group and is no longer than it (a key cut every N characters). A dash goes only between
    two such groups, so `sk-ant-api03` keeps its own."""
    parts = _GAP.split(folded)  # token, separator, token, ...
    out = [parts[0]]
    in_key = _chunky(parts[0])
    for index in range(1, len(parts), 2):
        gap, before, after = parts[index], parts[index - 1], parts[index + 1]
        keyish = _GROUP.fullmatch(after) is not None and (_chunky(after) or (in_key and 3 <= len(after) <= len(before)))
        if gap == "-":
            joins = keyish and in_key
        else:
            last = out[-1][-1:] if out[-1] else (out[-2][-1:] if len(out) > 1 else "")
            joins = keyish and bool(last) and (last.isalnum() or last in "_-")
        out.extend(("", after) if joins else (gap, after))
        in_key = joins or (_GROUP.fullmatch(after) is not None and _chunky(after))
    return "".join(out)


def find_secret(text: str) -> Secret | None:
    """The first secret in `text`, or None. Recognizes key formats, `password=` pairs, "my password
    is …" phrases and cards, after normalizing (see `fold`, `_compact`)."""
    folded = fold(text)
    return (
        _find_in(folded, _TOKEN_PATTERNS)
        or (_COMPACT_PREFIX.search(folded) is not None and _find_in(_compact(folded), _COMPACT_PATTERNS))
        or _find_in(_SPACES.sub("", folded), _SQUEEZED_PATTERNS)
        or _find_in(_SPACES_AND_DASHES.sub("", folded), _DASHED_PATTERNS)
        or _find_other(folded)
    )


def _find_in(text: str, patterns: tuple[tuple[str, re.Pattern[str]], ...]) -> Secret | None:
    for kind, pattern in patterns:
        for match in pattern.finditer(text):
            if kind in _NEEDS_MIXED and not _mixed(match.group(0)):
                continue
            return Secret(kind, match.start())
    return None


def _find_other(text: str) -> Secret | None:
    found = _AWS_ID_ANY_CASE.search(text)
    if found:
        return Secret("an AWS access key id", found.start())
    for match in _PAIR.finditer(text):
        value = next(group for group in match.groups()[1:] if group is not None)
        if holds_secret(match.group(1), value):
            return Secret("a password or key written as name=value", match.start())
    for match in _PHRASE.finditer(text):
        value = match.group(2).rstrip(".!?")
        if not is_reference(value) and _MADE_UP.search(value):
            return Secret("a password written out", match.start())
    lowered = text.lower()
    if "aws" in lowered or "akia" in lowered:
        for match in _AWS_SECRET.finditer(text):
            if _mixed(match.group(0)):
                return Secret("an AWS secret access key", match.start())
    for pattern in (_CARD, _CARD_GROUPED):
        for match in pattern.finditer(text):
            digits = "".join(c for c in match.group(0) if c.isdigit())
            if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and luhn_valid(digits):
                return Secret("a payment card number", match.start())
    return None


def quoted(value: str, limit: int) -> str:
    """A wrong value as an error message may quote it back: cut to `limit` characters, and not at
    all when it holds a secret."""
    if find_secret(value) is not None:
        return "(a value that looks like a secret, not shown)"
    return repr(value if len(value) <= limit else value[:limit] + "…")


def find_secret_pair(key: str, value: Any) -> Secret | None:
    """A JSON member whose name says secret (`"password": "hunter2"`) and whose value holds one."""
    name = fold(key).strip()
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


@dataclass(frozen=True)
class Write:
    """One record about to be stored, as the policy sees it: its layer and its fields by kind.

    Every path that writes (tools, CLI, import) describes its record this way and calls
    `PrivacyPolicy.check` once, so one rule decides everywhere. Field names are the ones the
    caller's error messages use (`messages[2].content`, `tags[0]`)."""

    layer: Layer
    text: Mapping[str, str | None] = field(default_factory=dict)
    """Free text: fact content, messages, summaries, tool input and output."""
    names: Mapping[str, str | None] = field(default_factory=dict)
    """Short labels shown back: category, tags, message and agent names, tool names, labels."""
    handles: Mapping[str, str | None] = field(default_factory=dict)
    """Ids a caller looks a record up by (thread ids): never rewritten, so contacts are refused
    where the layer would redact them."""
    data: Mapping[str, Any] = field(default_factory=dict)
    """JSON: a checkpoint's state. Every string, member name and name/value pair is checked."""


@dataclass
class Checked:
    """A value (or, from `check`, every field by name) as it may be stored, and the kinds of
    contact data replaced in it."""

    value: Any
    redacted: list[ContactKind]


class PrivacyPolicy:
    """Applies the settings' `[privacy]` section: refuses secrets, keeps / redacts / refuses contacts."""

    def __init__(self, settings: PrivacySettings) -> None:
        self.settings = settings

    def check(self, write: Write) -> Checked:
        """The one entry point: refuse a secret in any field (before any field is rewritten, so
        nothing is half-checked), then apply the layer's contact rule. Answers a dict of the
        fields as they may be stored (None stays None).

        Raises:
            RefusedContentError: a secret anywhere, or contacts the layer refuses. The message
                names the field and the kind, never the value.
        """
        plain = {**write.text, **write.names, **write.handles}
        for name, value in plain.items():
            if value is not None:
                self._refuse_if_secret(value, name)
        for name, value in write.data.items():
            self._refuse_secret_in_json(value, name)
        values: dict[str, Any] = {}
        kinds: list[ContactKind] = []
        rule = self._rule(write.layer)
        for name, value in plain.items():
            if value is None:
                values[name] = None
                continue
            handle_rule: ContactPolicy = "refuse" if rule != "keep" and name in write.handles else rule
            checked = self._contacts(value, layer=write.layer, field=name, rule=handle_rule)
            values[name] = checked.value
            kinds.extend(checked.redacted)
        for name, value in write.data.items():
            checked = self._contacts_in_json(value, layer=write.layer, field=name)
            values[name] = checked.value
            kinds.extend(checked.redacted)
        return Checked(values, list(dict.fromkeys(kinds)))

    def refusal(self, write: Write) -> str | None:
        """Why `check` would refuse this record (for scanning what is stored), or None."""
        try:
            self.check(write)
        except (RefusedContentError, InvalidInputError) as error:
            return str(error)
        return None

    def _rule(self, layer: Layer) -> ContactPolicy:
        rule: ContactPolicy = getattr(self.settings, layer)
        return rule

    def _refuse_if_secret(self, value: str, field: str) -> None:
        secret = find_secret(value)
        if secret is not None:
            raise _refuse_secret(secret, field)

    def _contacts(self, value: str, *, layer: Layer, field: str, rule: ContactPolicy) -> Checked:
        if rule == "keep":
            return Checked(value, [])
        if rule == "redact":
            redacted, kinds = redact_contacts(value)
            return Checked(redacted, kinds)
        kinds = find_contacts(value)
        if kinds:
            what = " and ".join("an email address" if kind == "email" else "a phone number" for kind in kinds)
            setting = self._rule(layer)
            why = (
                f"this server's privacy policy refuses them in {layer.replace('_', ' ')} (privacy.{layer} = 'refuse')"
                if setting == "refuse"
                else f"it is an id, which cannot be redacted (privacy.{layer} = '{setting}')"
            )
            raise RefusedContentError(
                f"{field} contains {what}; {why}. Nothing was stored. Leave them out, or describe them "
                "('the user's work email')."
            )
        return Checked(value, [])

    def _refuse_secret_in_json(self, value: Any, field: str) -> None:
        # Strings and member names first: a path named in a refusal then only holds names
        # already found clean, never a member name that is itself the secret.
        for path, scalar in _scalars(value, field):
            self._refuse_if_secret(str(scalar), path)
        for path, key, member in _members(value, field):
            secret = find_secret_pair(key, member)
            if secret is not None:
                raise _refuse_secret(secret, path)

    def _contacts_in_json(self, value: Any, *, layer: Layer, field: str) -> Checked:
        if self._rule(layer) == "keep":
            return Checked(value, [])
        kinds: list[ContactKind] = []
        try:
            result = self._rewrite(value, layer=layer, path=field, kinds=kinds)
        except RecursionError:
            raise InvalidInputError(f"{field} is nested too deeply. Flatten it: keep ids and short values.") from None
        return Checked(result, list(dict.fromkeys(kinds)))

    def _rewrite(self, value: Any, *, layer: Layer, path: str, kinds: list[ContactKind]) -> Any:
        if isinstance(value, str):
            checked = self._contacts(value, layer=layer, field=path, rule=self._rule(layer))
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


def _refuse_secret(secret: Secret, field: str) -> RefusedContentError:
    return RefusedContentError(f"{field} contains {secret.kind}; nothing was stored. {REFERENCE_ADVICE}")


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
