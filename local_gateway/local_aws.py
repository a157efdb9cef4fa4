"""The local stand-ins for AWS's own names: the region, the account and the API ids.

Every module that writes an ARN, an event's ``requestContext`` or a client's region reads
them from here, so the template reader, the events, the workers and the embedded services
agree on one account.
"""

from __future__ import annotations

__all__ = ["ACCOUNT_ID", "LOCAL_API_ID", "LOCAL_HTTP_API_ID", "REGION", "queue_arn"]

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
LOCAL_API_ID = "local0wsapi"
LOCAL_HTTP_API_ID = "local0httpa"


def queue_arn(name: str) -> str:
    """The ARN of the local queue named ``name``."""
    return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"
