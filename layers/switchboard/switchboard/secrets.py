"""Where the HS256 token secret comes from.

Locally it is the ``WS_SECRET`` environment variable; on AWS an SSM SecureString
parameter or a Secrets Manager secret, read through Powertools Parameters, which
caches it for ``SECRET_MAX_AGE_SECONDS`` so a rotated secret is picked up without
a redeploy and a warm container makes no call per connect.
"""

from __future__ import annotations

from switchboard.config import Settings
from switchboard.errors import ConfigurationError


def load_token_secret(settings: Settings) -> str | None:
    """Return the token secret this deployment is configured with, or ``None``."""
    if settings.ws_secret:
        return settings.ws_secret
    if settings.ws_secret_id:
        from aws_lambda_powertools.utilities import parameters

        value = parameters.get_secret(
            settings.ws_secret_id, max_age=settings.secret_max_age_seconds
        )
    elif settings.ws_secret_parameter:
        from aws_lambda_powertools.utilities import parameters

        value = parameters.get_parameter(
            settings.ws_secret_parameter, decrypt=True, max_age=settings.secret_max_age_seconds
        )
    else:
        return None
    if not isinstance(value, str):
        raise ConfigurationError("the token secret must be a string")
    return value
