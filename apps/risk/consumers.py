"""The firm dashboard's live socket, /ws/risk/firm/ (staff with the risk permission only).

It joins `risk.firm` (the risk engine's aggregate, message type `risk.firm`) and `risk.alerts`
(new alerts, message type `risk.alert`) and forwards each message to the page as it is.
"""

from __future__ import annotations

from channels.db import database_sync_to_async

from apps.core.consumers import LiveConsumer
from apps.risk.push import ALERTS_GROUP, FIRM_GROUP

DASHBOARD_PERMISSION = "risk.view_alert"
GROUPS = (FIRM_GROUP, ALERTS_GROUP)


def may_watch(user) -> bool:
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm(DASHBOARD_PERMISSION)
    )


class FirmDashboardConsumer(LiveConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if not await database_sync_to_async(may_watch)(user):
            await self.accept()
            await self.close(code=4403)
            return
        self.joined = True
        for group in GROUPS:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello"})

    async def disconnect(self, code):
        if getattr(self, "joined", False):
            for group in GROUPS:
                await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        await self.send_json({"type": "error", "message": "this socket only pushes events"})

    async def risk_firm(self, message):
        await self.send_json(message)

    async def risk_alert(self, message):
        await self.send_json(message)
