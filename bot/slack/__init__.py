"""The Slack adapter: a Bolt app whose listeners translate Slack into `core` use cases.

One module per listener kind, each with `register(app)` (the bolt-python starter template's
shape): `commands` (the `/namespace` slash command), `actions` (Approve, Deny and Extend
buttons), `views` (modal submissions: the activate form, the deny reason), `home` (App Home);
`blocks` renders every message and modal as Block Kit; `app` builds the Bolt app.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.app import NamespaceCtl
from core.clock import Clock
from core.config import Config

if TYPE_CHECKING:
    from bot.slack.notifier import SlackNotifier
    from bot.slack.work import SlackWork

log = logging.getLogger("namespace_ctl.slack")

DEPS_KEY = "namespace_ctl"


@dataclass(frozen=True)
class BotDeps:
    """What every listener needs: the use cases, the configuration, the product's clock and
    the notifier that delivers what the use cases posted to the outbox.

    `create_app` puts it in each request's Bolt context (a global middleware), so the listener
    modules keep the starter template's `register(app)` signature.
    """

    ctl: NamespaceCtl
    config: Config
    clock: Clock
    notifier: SlackNotifier
    # Slow work (cluster reads, wakes, Web API calls) runs here after the ack, not on the HTTP
    # thread the listener runs on: a listener that held it until its work was done would keep
    # the next requests from even being acknowledged (bench/README.md, ack latency).
    work: SlackWork

    def later(self, job: Callable[[], None], what: str, urgent: bool = False) -> None:
        """Run `job` on the work pool once the acks in flight are answered; its failure is
        logged (the listener already acked). `urgent`: it uses a trigger_id (valid for 3 s),
        so it starts at once, on the urgent pool."""

        def guarded() -> None:
            try:
                job()
            except Exception:
                log.exception("%s failed", what)

        self.work.submit(guarded, urgent=urgent)

    def deliver_notices(self) -> None:
        """Deliver now what the listener's use case posted (a request's message, a decision, a
        window started or ended), in the listener's thread after the ack. Never raises: what is
        not delivered stays in the outbox for the next drain."""
        try:
            self.notifier.drain()
        except Exception:
            log.exception("delivering notices failed; the outbox keeps them for the next drain")


def deps_of(context: Any) -> BotDeps:
    deps = context[DEPS_KEY]
    if not isinstance(deps, BotDeps):
        raise TypeError("the Bolt context holds no BotDeps: build the app with create_app")
    return deps
