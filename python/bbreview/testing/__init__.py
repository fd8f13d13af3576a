"""The bbreview test kit: a faithful Bitbucket Cloud emulator, webhook payload
builders, a webhook receiver and a pytest plugin.

``FakeBitbucket`` follows ``shared/reference/bitbucket-cloud-api.md``; see
:mod:`bbreview.testing.fake` for the scripting API and :class:`Quirks` for the
behaviours the reference leaves unconfirmed.
"""

from __future__ import annotations

from bbreview.testing import payloads
from bbreview.testing._demo import Demo, seed_demo
from bbreview.testing._errors import EmulatorError
from bbreview.testing._model import (
    AccessToken,
    Annotation,
    ApiToken,
    BuildStatus,
    Comment,
    Hook,
    Participant,
    Project,
    PullRequest,
    Report,
    Repository,
    Task,
    User,
    Workspace,
)
from bbreview.testing._webhooks import Attempt, Delivery, sign
from bbreview.testing.fake import (
    ALL_API_TOKEN_SCOPES,
    BOT_SCOPES,
    HOOK_EVENTS,
    FakeBitbucket,
    Quirks,
    RawResponse,
    RecordedRequest,
)
from bbreview.testing.fake_llm import FakeLLM
from bbreview.testing.receiver import ReceivedWebhook, WebhookReceiver
from bbreview.testing.waiting import wait_until

__all__ = [
    "wait_until",
    "ALL_API_TOKEN_SCOPES",
    "AccessToken",
    "Annotation",
    "ApiToken",
    "Attempt",
    "BOT_SCOPES",
    "BuildStatus",
    "Comment",
    "Delivery",
    "Demo",
    "EmulatorError",
    "FakeBitbucket",
    "FakeLLM",
    "HOOK_EVENTS",
    "Hook",
    "Participant",
    "Project",
    "PullRequest",
    "Quirks",
    "RawResponse",
    "ReceivedWebhook",
    "RecordedRequest",
    "Report",
    "Repository",
    "Task",
    "User",
    "WebhookReceiver",
    "Workspace",
    "payloads",
    "seed_demo",
    "sign",
]
