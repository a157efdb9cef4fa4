"""The local stand-ins for AWS's own names: the region, the account and the API ids.

Every module that writes an ARN, an event's ``requestContext`` or a client's region reads
them from here, so the template reader, the events, the workers and the embedded services
agree on one account.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ACCOUNT_ID", "LOCAL_API_ID", "LOCAL_HTTP_API_ID", "REGION", "client", "queue_arn"]

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
LOCAL_API_ID = "local0wsapi"
LOCAL_HTTP_API_ID = "local0httpa"


def queue_arn(name: str) -> str:
    """The ARN of the local queue named ``name``."""
    return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"


def client(service: str, endpoint: str, *, attempts: int | None = None) -> Any:
    """A boto3 client of ``service`` at a local ``endpoint`` (which takes any key);
    ``attempts``: standard retries with that many attempts in all (botocore's default
    otherwise)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - a local endpoint takes any key
        config=None
        if attempts is None
        else Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )
