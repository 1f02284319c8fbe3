"""`treadctl monitor`: every treadmill of a site on one screen, one in detail.

A DataTable of the treadmills seen on the broker (link, mode, direction, belt speed,
segment, interlock, alarms) and a detail pane for the highlighted one. It subscribes to
`treadctl/<site>/#` and reconnects by itself. With --commands, `s` and `p` send stop
and pause to the highlighted treadmill (the broker's ACL decides whether this monitor's
user may; the treadmill answers on its result topic, shown in the detail pane).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass

import aiomqtt
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from treadctl.config.mqtt import NODELAY, tls_context
from treadctl.mqtt import topics
from treadctl.mqtt.fleet import COLUMNS, WIDTHS, Fleet

RETRY_S = (0.5, 10.0)  # reconnect backoff: first wait, longest wait


@dataclass(frozen=True)
class MonitorSettings:
    host: str
    port: int
    site: str
    username: str | None = None
    password: str | None = None
    tls: bool = False
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    commands: bool = False  # s / p send stop / pause

    @property
    def origin(self) -> str:
        name = "".join(c if c.isalnum() or c in "._-" else "-" for c in self.username or "anon")
        return f"monitor-{name}"[:64]

    def client(self) -> aiomqtt.Client:
        ctx = None
        if self.tls or self.tls_ca is not None:
            ctx = tls_context(self.tls_ca, self.tls_cert, self.tls_key)
        return aiomqtt.Client(
            self.host,
            self.port,
            username=self.username,
            password=self.password,
            identifier=f"treadctl-monitor-{uuid.uuid4().hex[:8]}",
            tls_context=ctx,
            keepalive=10,
            timeout=5,
            socket_options=[NODELAY],
        )


class MonitorApp(App[None]):
    TITLE = "treadctl monitor"
    CSS = """
    #fleet { height: 1fr; }
    #detail { height: auto; max-height: 60%; border: round $accent; padding: 0 1; }
    #link { height: 1; padding: 0 1; }
    """
    BINDINGS = [  # noqa: RUF012 - Textual reads this class attribute
        Binding("q", "quit", "Quit"),
        Binding("s", "command('stop')", "Stop selected"),
        Binding("p", "command('pause')", "Pause selected"),
    ]

    def __init__(self, settings: MonitorSettings, refresh_s: float = 0.25) -> None:
        super().__init__()
        self.settings = settings
        self.fleet = Fleet(settings.site)
        self.refresh_s = refresh_s
        self.selected: str | None = None
        self.link_text = "connecting ..."
        self.detail_text = "no treadmill seen yet"
        self._rows: dict[str, tuple[str, ...]] = {}
        self._client: aiomqtt.Client | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="fleet", cursor_type="row", zebra_stripes=True)
        yield Static(self.detail_text, id="detail")
        yield Static(self.link_text, id="link")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"site {self.settings.site}" + (
            "" if self.settings.commands else " · read-only: commands off (--commands)"
        )
        # held, not queried each refresh: a timer tick during shutdown finds no nodes
        table = self._table = self.query_one("#fleet", DataTable)
        self._detail = self.query_one("#detail", Static)
        self._link = self.query_one("#link", Static)
        for col in COLUMNS:
            table.add_column(col, key=col, width=WIDTHS.get(col))
        self.run_worker(self._listen(), name="mqtt", exclusive=True)
        self.set_interval(self.refresh_s, self.refresh_view)

    def _set_link(self, text: str) -> None:
        self.link_text = text
        self._link.update(text)

    async def _listen(self) -> None:
        s = self.settings
        wait = RETRY_S[0]
        who = f" as {s.username}" if s.username else ""
        while True:
            try:
                async with s.client() as client:
                    await client.subscribe(topics.site_filter(s.site), qos=1)
                    self._client = client
                    wait = RETRY_S[0]
                    self._set_link(f"broker {s.host}:{s.port}{who}: connected")
                    async for m in client.messages:
                        payload = m.payload if isinstance(m.payload, bytes) else b""
                        self.fleet.update(str(m.topic), payload, time.time())
            except aiomqtt.MqttError as exc:
                self._client = None
                self._set_link(f"broker {s.host}:{s.port}{who}: {exc}; retrying in {wait:.0f} s")
            await asyncio.sleep(wait)
            wait = min(wait * 2, RETRY_S[1])

    def refresh_view(self) -> None:
        now = time.time()
        table = self._table
        for name in sorted(self.fleet.treadmills):
            row = self.fleet.row(name, now)
            old = self._rows.get(name)
            if old is None:
                table.add_row(*row, key=name)
            else:
                for col, new, was in zip(COLUMNS, row, old, strict=True):
                    if new != was:
                        table.update_cell(name, col, new, update_width=col not in WIDTHS)
            self._rows[name] = row
        if self.selected is None and self._rows:
            self.selected = sorted(self._rows)[0]
        if self.selected is not None:
            self.detail_text = "\n".join(self.fleet.detail(self.selected, now))
            self._detail.update(self.detail_text)

    def check_action(self, action: str, _parameters: tuple[object, ...]) -> bool | None:
        """Stop and pause only with --commands: without, no key offers what it cannot do."""
        return self.settings.commands or action != "command"

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self.selected = event.row_key.value
            self.refresh_view()

    async def action_command(self, action: str) -> None:
        name = self.selected
        if name is None:
            return
        if not self.settings.commands:
            self.notify("commands are off: start the monitor with --commands", severity="warning")
            return
        client = self._client
        if client is None:
            self.notify("not connected to the broker", severity="error")
            return
        rid = f"{self.settings.origin}-{uuid.uuid4().hex[:8]}"
        body = {"id": rid, "action": action, "origin": self.settings.origin, "sent_at": time.time()}
        topic = topics.Topics(self.settings.site, name).command
        try:
            await client.publish(topic, json.dumps(body), qos=1)
        except aiomqtt.MqttError as exc:
            self.notify(f"{action} not sent: {exc}", severity="error")
            return
        self.notify(f"{action} sent to {name} ({rid}); the answer shows below")


__all__ = ["MonitorApp", "MonitorSettings"]
