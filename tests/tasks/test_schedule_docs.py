"""The beat schedule in config/celery.py and the tables in docs/tasks.md agree (the README
table is a copy of the docs table)."""

from __future__ import annotations

from pathlib import Path

from celery.schedules import crontab

from config.celery import BEAT_SCHEDULE, app

DOCS = Path(__file__).resolve().parents[2] / "docs" / "tasks.md"


def _table_after(heading: str) -> list[dict[str, str]]:
    """The first markdown table after `heading`, as dicts keyed by header, backticks stripped."""
    lines = DOCS.read_text().splitlines()
    start = lines.index(heading)
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            rows.append([cell.strip().strip("`") for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    header, _separator, *body = rows
    return [dict(zip(header, row, strict=True)) for row in body]


def _cron(schedule: object) -> str:
    assert isinstance(schedule, crontab), f"tasks beat entries use crontab, got {schedule!r}"
    return " ".join(
        str(part)
        for part in (
            schedule._orig_minute,
            schedule._orig_hour,
            schedule._orig_day_of_month,
            schedule._orig_month_of_year,
            schedule._orig_day_of_week,
        )
    )


def _queue(job: str) -> str:
    return app.amqp.router.route({}, job)["queue"].name


def test_docs_beat_table_matches_beat_schedule():
    documented = {
        row["Beat entry"]: (row["Job"], row["Cron (UTC)"], row["Queue"])
        for row in _table_after("### Beat schedule")
    }
    configured = {
        name: (entry["task"], _cron(entry["schedule"]), _queue(entry["task"]))
        for name, entry in BEAT_SCHEDULE.items()
        if entry["task"].startswith("tasks.jobs.")
    }
    assert documented == configured


def test_every_scheduled_and_fanned_out_job_exists_with_the_documented_queue():
    import tasks.jobs  # noqa: F401  (registers the jobs)

    rows = _table_after("### Beat schedule") + _table_after("### Jobs the schedule fans out to")
    for row in rows:
        assert row["Job"] in app.tasks, row["Job"]
        assert _queue(row["Job"]) == row["Queue"], row["Job"]
