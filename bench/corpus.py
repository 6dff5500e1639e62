"""Synthetic but varied facts and queries for speed benchmarks (quality uses data/retrieval_set.json)."""

from __future__ import annotations

import random

NAMES = """Ana Ben Chloe Dario Elif Farah Gustav Hana Ivan Jonas Keiko Luca Mara Nadia Omar Priya Quentin Rosa
Sven Tariq Uma Viktor Wen Xavier Yara Zoltan Aiko Bruno Carmen Dmitri Esme Felix Greta Hugo Ines Jamal""".split()
PLACES = """Lisbon Berlin Osaka Nairobi Quito Oslo Hanoi Lima Porto Dublin Krakow Seville Tbilisi Cusco Busan
Tromso Valencia Zagreb Lyon Bergen Cork Ghent Turin Bruges Granada Utrecht Salzburg Tallinn Riga Vilnius""".split()
THINGS = """sourdough espresso cycling bouldering ceramics chess kayaking violin gardening podcasts sketching yoga
Rust Kotlin Terraform Postgres Kafka Redis Neovim Emacs Blender Figma Ableton Lightroom Obsidian Anki""".split()
TEMPLATES = [
    "{name} is my {rel} and lives in {place}",
    "I started learning {thing} in {year} with {name}",
    "My flight {code} to {place} leaves on {day} {month}",
    "The budget for the {thing} project is {amount} euros",
    "{name} recommended a {thing} course that costs {amount}",
    "I prefer {thing} over {thing2} on weekends",
    "Ticket {code} tracks the {thing} migration owned by {name}",
    "My dentist appointment in {place} is on {day} {month} at {hour}:00",
    "We plan a trip to {place} in {month} {year} for {n} days",
    "{name} uses {thing} version {n}.{m} at work",
    "I pay {amount} per month for the {thing} subscription",
    "My {rel} {name} is allergic to {thing2}",
    "The {thing} meetup in {place} happens every {weekday}",
    "I keep my {thing} notes in a folder called {code}",
    "{name} and I disagree about {thing} but agree about {thing2}",
]
RELATIONS = "sister brother cousin manager colleague neighbour friend mentor aunt uncle".split()
MONTHS = "January February March April May June July August September October November December".split()
WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()


def fact(rng: random.Random) -> str:
    return rng.choice(TEMPLATES).format(
        name=rng.choice(NAMES),
        rel=rng.choice(RELATIONS),
        place=rng.choice(PLACES),
        thing=rng.choice(THINGS),
        thing2=rng.choice(THINGS),
        year=rng.randint(1995, 2026),
        code=f"{rng.choice('ABCDEFGHKLMNPRSTUVWXZ')}{rng.choice('ABCDEFGHKLMNPRSTUVWXZ')}-{rng.randint(100, 9999)}",
        day=rng.randint(1, 28),
        month=rng.choice(MONTHS),
        amount=rng.randint(5, 90_000),
        hour=rng.randint(7, 18),
        n=rng.randint(2, 21),
        m=rng.randint(0, 12),
        weekday=rng.choice(WEEKDAYS),
    )


def facts(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        text = fact(rng)
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def queries(count: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    forms = [
        "who is {name}",
        "when is my trip to {place}",
        "what do I pay for {thing}",
        "ticket about {thing}",
        "what does {name} think about {thing}",
        "appointments in {month}",
    ]
    return [
        rng.choice(forms).format(
            name=rng.choice(NAMES), place=rng.choice(PLACES), thing=rng.choice(THINGS), month=rng.choice(MONTHS)
        )
        for _ in range(count)
    ]
