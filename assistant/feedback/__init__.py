"""Feedback: clinicians' judgements of answers, stored for editors, who turn them into
example questions for the next build."""

from assistant.feedback.formkey import secret_for
from assistant.feedback.review import Decision, accept, reject
from assistant.feedback.store import (
    STATUSES,
    VERDICTS,
    Feedback,
    FeedbackError,
    FeedbackStore,
    Judgement,
    VersionStats,
)

__all__ = [
    "STATUSES",
    "VERDICTS",
    "Decision",
    "Feedback",
    "FeedbackError",
    "FeedbackStore",
    "Judgement",
    "VersionStats",
    "accept",
    "reject",
    "secret_for",
]
