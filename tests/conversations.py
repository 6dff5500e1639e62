"""A realistic 50-turn conversation for session and summary tests.

Facts are stated early (name, city, allergy, project), decisions are taken in the middle, and
the last turns are about something else, so a summary made of "the last lines" would miss them.
"""

from __future__ import annotations

from typing import Any

TURNS: list[tuple[str, str]] = [
    ("user", "Hi, I'm Priya. I live in Lisbon and I work as a data engineer at Acme Logistics."),
    ("assistant", "Nice to meet you, Priya. What are you working on today?"),
    (
        "user",
        "I am allergic to peanuts, so keep that in mind when we plan the team dinner later. "
        "Our main project this quarter is migrating the nightly billing pipeline from Airflow to Dagster.",
    ),
    ("assistant", "Noted. The billing migration sounds like a good place to start. How many jobs does it have?"),
    ("user", "About forty jobs. Most of them read from the orders database and write invoices to Postgres."),
    (
        "assistant",
        "Forty jobs is manageable. I suggest grouping them into assets by the table they produce, "
        "so Dagster can track lineage for each invoice table.",
    ),
    ("user", "That makes sense. The tricky part is the currency conversion job, it fails every few nights."),
    ("assistant", "Do you know why the currency conversion job fails? Is it the exchange rate API timing out?"),
    ("user", "Yes, the exchange rate API times out around midnight when everyone calls it."),
    (
        "assistant",
        "Then a retry policy with exponential backoff would help, and caching the previous day's rates "
        "as a fallback keeps the invoices flowing.",
    ),
    ("user", "Good idea. We decided to cache the rates in Redis with a 36 hour expiry."),
    ("assistant", "Caching in Redis for 36 hours is a sensible choice for the fallback."),
    ("user", "What about testing? The finance team is nervous about wrong invoice totals."),
    (
        "assistant",
        "Run both pipelines side by side for two weeks and compare the invoice totals every morning. "
        "Any difference above one cent should page the on-call engineer.",
    ),
    ("user", "Let's do the two week parallel run. The finance team will love the comparison report."),
    ("assistant", "Great. I can draft the comparison query for the invoice totals if you like."),
    ("user", "Please do, compare per customer and per day."),
    (
        "assistant",
        "Here is the idea: group both invoice tables by customer and day, join them, and list the rows "
        "where the totals differ by more than one cent.",
    ),
    ("user", "Perfect. The cutover date is set for March 14, after the quarter close."),
    ("assistant", "March 14 after the quarter close gives the finance team time to review the parallel run."),
    ("user", "Now the team dinner. There will be eight of us on Friday."),
    ("assistant", "For eight people on Friday, do you have a cuisine in mind?"),
    ("user", "Thai would be nice, but remember my allergy."),
    ("assistant", "Many Thai dishes use peanuts, so we should ask the restaurant for a peanut-free menu."),
    ("user", "We agreed on the Green Elephant in Alfama, they have a peanut-free kitchen."),
    ("assistant", "The Green Elephant in Alfama is a good choice. I can help with the booking message."),
    ("user", "Thanks, I will book it myself. Back to work: the dashboards need updating too."),
    ("assistant", "Which dashboards read from the billing pipeline today?"),
    ("user", "The revenue dashboard and the late payments dashboard, both in Metabase."),
    (
        "assistant",
        "Both Metabase dashboards should keep working if the table names stay the same. "
        "Keeping the table names avoids touching the dashboards at all.",
    ),
    ("user", "Right, we keep the table names."),
    ("assistant", "Then the dashboards need no changes, only a check after the cutover."),
    ("user", "How should we alert on failures in Dagster?"),
    (
        "assistant",
        "Dagster sensors can post to Slack when a run fails. Route billing failures to the data "
        "engineering channel and page only for the invoice assets.",
    ),
    ("user", "Slack alerts for everything, paging only for invoices, good."),
    ("assistant", "I will note the alerting rule in the runbook draft."),
    ("user", "The runbook should also explain how to backfill a day."),
    (
        "assistant",
        "A backfill section can show the Dagster command for one partition and for a date range, "
        "with a warning to pause the comparison report meanwhile.",
    ),
    ("user", "Nice. By the way, the weather has been lovely this week."),
    ("assistant", "Sunny weeks are great for a walk after work."),
    ("user", "I went to the beach yesterday evening, it was calm."),
    ("assistant", "A calm evening at the beach sounds relaxing."),
    ("user", "The sunset was beautiful and the water was warm."),
    ("assistant", "Warm water and a beautiful sunset make a perfect evening."),
    ("user", "I might go again this weekend with my sister."),
    ("assistant", "Enjoy the weekend at the beach with your sister."),
    ("user", "Thanks! Can you remind me what we still need to do for the migration?"),
    (
        "assistant",
        "Still to do: write the retry policy, set up the Redis cache, draft the comparison query, "
        "finish the runbook, and prepare the March 14 cutover.",
    ),
    ("user", "Great, that list is exactly what I needed."),
    ("assistant", "Glad it helps. Good luck with the migration, Priya."),
]

assert len(TURNS) == 50


def messages() -> list[dict[str, Any]]:
    """The turns as append_messages arguments; assistant turns carry tokens and cost, user turns do not."""
    result: list[dict[str, Any]] = []
    for index, (role, content) in enumerate(TURNS):
        message: dict[str, Any] = {"role": role, "content": content}
        if role == "assistant":
            message["tokens"] = 40 + index
            message["cost_usd"] = 0.0015
        result.append(message)
    return result
