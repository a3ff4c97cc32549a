"""Every background task of cxloop, imported by whatever runs the Huey consumer."""

from cxloop.channels import tasks as channel_tasks
from cxloop.events import tasks as event_tasks
from cxloop.feedback import followup_tasks
from cxloop.feedback import tasks as feedback_tasks
from cxloop.feedback import texts as feedback_texts  # the survey text source and consumer
from cxloop.profiles import tasks as profile_tasks
from cxloop.text import tasks as text_tasks

__all__ = [
    "channel_tasks",
    "event_tasks",
    "feedback_tasks",
    "feedback_texts",
    "followup_tasks",
    "profile_tasks",
    "text_tasks",
]
