"""The dashboard in a real headless chromium: refused without the token, the page shows the
interlock panel, a key press reaches the controller, and a closed tab is an operator who
left (the presence rule stops the belt)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright
from web_rig import (
    CHROMIUM_ARGS,
    DEADLINE_S,
    TOKEN,
    Proc,
    children,
    need_chromium,
    status,
    terminal_text,
    until,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def browser(short_dir: Path, web: tuple[Proc, str]) -> Iterator[BrowserContext]:
    """A fresh chromium profile that can reach only the console's server."""
    chromium = need_chromium()
    base = web[1]
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(short_dir / "profile"),
            executable_path=str(chromium),
            args=CHROMIUM_ARGS,
            headless=True,
        )
        # Offline like a kiosk: the page's web font and anything else outside is refused.
        context.route(
            "**/*",
            lambda route: (
                route.continue_() if route.request.url.startswith(base) else route.abort()
            ),
        )
        context.set_default_timeout(DEADLINE_S * 1000)
        try:
            yield context
        finally:
            context.close()


def pause_in(page: Page) -> Callable[[float], object]:
    return lambda seconds: page.wait_for_timeout(seconds * 1000)


def open_console(context: BrowserContext, base: str) -> tuple[Page, list[bytes]]:
    """Open the login URL; the page and the bytes its websocket receives."""
    page = context.new_page()
    frames: list[bytes] = []

    def on_ws(ws: object) -> None:
        ws.on(  # type: ignore[attr-defined]
            "framereceived",
            lambda p: frames.append(p if isinstance(p, bytes) else p.encode()),
        )

    page.on("websocket", on_ws)
    response = page.goto(f"{base}/?token={TOKEN}")
    assert response is not None
    assert response.status == 200, response.status
    assert response.url == f"{base}/"  # the token left the address bar
    page.wait_for_selector("body.-first-byte")  # the terminal got the app's first screen
    return page, frames


def test_the_page_and_its_websocket_refuse_without_the_token(
    browser: BrowserContext, web: tuple[Proc, str]
) -> None:
    base = web[1]
    page = browser.new_page()
    missing = page.goto(f"{base}/")
    assert missing is not None
    assert missing.status == 401
    assert "login token required" in page.content()
    wrong = page.goto(f"{base}/?token={TOKEN[:-1]}x")
    assert wrong is not None
    assert wrong.status == 403
    # The page's own script, run without the cookie: the websocket is refused too.
    closed = page.evaluate(
        """url => new Promise(done => {
            const ws = new WebSocket(url);
            ws.onopen = () => done("opened");
            ws.onerror = () => done("refused");
        })""",
        base.replace("http:", "ws:") + "/ws",
    )
    assert closed == "refused"
    assert children(web[0].proc.pid) == []  # nothing spawned for a refused client


def test_the_console_shows_the_interlock_and_keys_reach_the_controller(
    browser: BrowserContext, web: tuple[Proc, str], controller: tuple[Proc, Path]
) -> None:
    sock = controller[1]
    page, frames = open_console(browser, web[1])
    p = pause_in(page)
    until(lambda: "INTERLOCK" in terminal_text(frames), "the INTERLOCK panel", pause=p)
    assert "EVENTS" in terminal_text(frames)
    until(lambda: status(sock).operator_present, "the browser's dashboard as the operator")
    first = status(sock)
    assert first.latched  # the power-on latch: a reset is needed
    until(lambda: status(sock).at_standstill, "standstill")
    page.click("#terminal")
    page.keyboard.press("r")
    until(lambda: not status(sock).latched, "the reset key (r) at the controller")
    assert status(sock).mode == "stopped"


def test_closing_the_tab_is_the_operator_leaving_and_the_belt_stops(
    browser: BrowserContext, web: tuple[Proc, str], controller: tuple[Proc, Path]
) -> None:
    sock = controller[1]
    server = web[0].proc.pid
    page, frames = open_console(browser, web[1])
    p = pause_in(page)
    until(lambda: status(sock).operator_present, "the browser's dashboard as the operator")
    consoles = until(lambda: children(server), "the console process")
    assert len(consoles) == 1
    until(lambda: status(sock).at_standstill, "standstill")
    page.click("#terminal")
    page.keyboard.press("r")
    until(lambda: status(sock).mode == "stopped", "reset")
    until(lambda: "✓ reset" in terminal_text(frames), "the reset's reply on the page", pause=p)
    seen = len(frames)
    page.keyboard.press("s")
    until(lambda: "START THE BELT?" in terminal_text(frames[seen:]), "the start dialog", pause=p)
    page.keyboard.press("y")
    until(lambda: status(sock).mode == "running", "the belt running")
    until(lambda: (status(sock).actual_kmh or 0.0) > 0.0, "the belt moving")

    closed_at = time.monotonic()
    page.close()  # the operator closes the tab

    until(lambda: children(server) == [], "the console process to end after the tab closed")
    console_gone_s = time.monotonic() - closed_at
    stopped = until(
        lambda: (s := status(sock)).mode != "running" and s.operator_present is False and s,
        "the controller to stop the belt for the absent operator",
    )
    assert any("operator console stopped answering" in r for r in stopped.reasons), stopped
    belt_stopped_s = time.monotonic() - closed_at
    until(lambda: status(sock).at_standstill, "the belt at standstill")
    print(f"tab closed -> console process gone {console_gone_s:.2f} s, "
          f"belt stopping for the absent operator {belt_stopped_s:.2f} s")  # fmt: skip
    log = web[0].output()
    assert log.count(TOKEN) == 1, "the token appears beyond the one URL printed"
