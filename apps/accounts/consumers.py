from __future__ import annotations

from apps.core.consumers import LiveConsumer
from apps.core.push import user_group


class UserEventsConsumer(LiveConsumer):
    """A signed-in person's own live events (`user.<id>` group). Anyone else is refused."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept, then close with 4401, so a page can tell "sign in again" from a refusal.
            await self.accept()
            await self.close(code=4401)
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "user": user.pk})

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        # The stream is one-way: the server pushes, the page listens.
        await self.send_json({"type": "error", "message": "this socket only pushes events"})

    async def user_event(self, message):
        await self.send_json(message["event"])
