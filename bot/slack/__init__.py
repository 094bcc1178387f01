"""The Slack adapter: a Bolt app whose listeners translate Slack into `core` use cases.

One module per listener kind, each with `register(app)` (the bolt-python starter template's
shape): `commands` (the `/namespace` slash command), `actions` (Approve, Deny and Extend
buttons), `views` (modal submissions: the activate form, the deny reason), `home` (App Home);
`blocks` renders every message and modal as Block Kit; `app` builds the Bolt app.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.activation import ActivationService
from core.clock import Clock
from core.config import Config

DEPS_KEY = "namespace_ctl"


@dataclass(frozen=True)
class BotDeps:
    """What every listener needs: the use cases, the configuration and the product's clock.

    `create_app` puts it in each request's Bolt context (a global middleware), so the listener
    modules keep the starter template's `register(app)` signature.
    """

    ctl: ActivationService
    config: Config
    clock: Clock


def deps_of(context: Any) -> BotDeps:
    deps = context[DEPS_KEY]
    if not isinstance(deps, BotDeps):
        raise TypeError("the Bolt context holds no BotDeps: build the app with create_app")
    return deps
