"""``/send`` and ``/get`` on the main screen: sending a file (typed path or the picker), fetching one
with a progress bar in its message line, and the picture placeholder once it is saved.

A file message reads ``[file] name (size)``; while it is fetched the line gains a bar
(``[#####.....]  50%``), and once saved ``saved to PATH``. Pictures (PNG, JPEG, GIF) then
read ``[image: name WxH]``, and where the terminal can show pictures a preview is drawn under
that line (:mod:`smallsocial_tui.imagepreview`: decoded with limits, on a worker thread); my own
pictures get one once sent. The node fetches and saves (``FetchFile.save_to``); the screen only shows.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from protocol import files, messages
from protocol.node import api
from smallsocial_tui import imagepreview
from smallsocial_tui.app.dialogs.file_picker import FilePicker
from smallsocial_tui.app.link import Refused
from smallsocial_tui.app.model import Row
from smallsocial_tui.app.screens.host import Host, writable
from smallsocial_tui.imageinfo import file_dimensions

log = logging.getLogger(__name__)

BAR = 20
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif")


def downloads_dir() -> Path:
    """Where ``/get`` saves: ``$SMALLSOCIAL_DOWNLOADS``, ``~/Downloads`` if it exists, else here."""
    env = os.environ.get("SMALLSOCIAL_DOWNLOADS")
    if env:
        return Path(env).expanduser()
    home = Path.home() / "Downloads"
    return home if home.is_dir() else Path.cwd()


def bar(have: int, total: int) -> str:
    frac = have / total if total else 1.0
    filled = int(frac * BAR)
    return f"[{'#' * filled}{'.' * (BAR - filled)}] {frac * 100:3.0f}%"


class FileFlows:
    """The file commands of one main screen, and how file messages show their transfers."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.base: dict[bytes, str] = {}
        """A file message's own line, by record id, while its transfer adds to it."""

    # sending ----------------------------------------------------------------------------------
    def send(self, args: str) -> None:
        circle = writable(self.host)
        if circle is None:
            return
        if args.strip():
            self._send(circle, Path(args.strip()).expanduser())
            return
        name = self.host.state.circle_name(circle)

        def picked(path: Path | None) -> None:
            if path is not None:
                self._send(circle, path)

        self.host.app.push_screen(FilePicker(name, Path.cwd()), picked)

    def _send(self, circle: bytes, path: Path) -> None:
        if not path.is_file():
            self.host.notify(f"{path} is not a file you can read.", severity="error", markup=False)
            return
        self.host.run_worker(self._sent(circle, path), group="commands")

    async def _sent(self, circle: bytes, path: Path) -> None:
        try:
            ev = await self.host.link.ask(api.SendFile(circle, str(path.resolve())), api.FileSent)
        except Refused as e:
            self.host.notify(str(e), severity="error", markup=False)
            return
        st = self.host.state
        hist = st.histories.get(circle)
        if hist is None:
            return
        text = f"[file] {ev.name} ({files.human_size(ev.size)})"
        now = int(self.host.session.clock() * 1000)
        row = hist.apply(ev.record_id, st.me, now, messages.FILE, text, None)
        if row is not None and circle == self.host.current:
            self.host.log_view.follow()
            self.host.log_view.appended()
            hist.read_marker = ev.record_id
        if row is not None and path.suffix.lower() in IMAGE_SUFFIXES:
            await self._preview(circle, row, path)

    # the circle's file limit -------------------------------------------------------------------
    def limit(self, args: str) -> None:
        circle = writable(self.host)
        if circle is None:
            return
        try:
            cap = files.parse_size(args) if args.strip() else None
        except ValueError as e:
            self.host.notify(str(e), severity="warning", markup=False)
            return
        if cap is None:
            now = limit_text(self.host.state.circles[circle].summary.file_cap)
            self.host.notify(
                f"{now[0].upper()}{now[1:]}. Admins set it: /limit 10MiB (0: no files).", markup=False
            )
            return
        self.host.run_worker(self._limit(circle, cap), group="commands")

    async def _limit(self, circle: bytes, cap: int) -> None:
        try:
            await self.host.link.ask(api.SetFileCap(circle, cap), api.CommandDone)
        except Refused as e:
            self.host.notify(str(e), severity="error", markup=False)
            return
        shown = files.human_size(cap) if cap else "0: no files"
        self.host.notify(f"The file limit is now {shown}.", timeout=3, markup=False)
        self.host.link.submit(api.LoadOverview())  # the status bar shows the circle's limit

    # fetching ---------------------------------------------------------------------------------
    def _file_row(self) -> Row | None:
        row = self.host.log_view.selected_row()
        current = self.host.current
        hist = self.host.state.histories.get(current) if current else None
        if (row is None or row.kind != messages.FILE) and hist is not None:
            row = next((r for r in reversed(hist.rows) if r.kind == messages.FILE and not r.deleted), None)
        if row is None or row.kind != messages.FILE:
            self.host.notify("There is no file here to get.", severity="warning")
            return None
        return row

    def get(self, args: str) -> None:
        current = self.host.current
        row = self._file_row() if current is not None else None
        if current is None or row is None:
            return
        where = Path(args.strip()).expanduser() if args.strip() else downloads_dir()
        if not where.is_dir():
            self.host.notify(f"{where} is not a directory to save into.", severity="error", markup=False)
            return
        self.base.setdefault(row.id, row.text or "")
        self._show(current, row, f"{self.base[row.id]} {bar(0, 1)}")
        cmd = api.FetchFile(current, row.id, False, str(where))
        self.host.run_worker(self._started(current, row, cmd), group="commands")

    async def _started(self, circle: bytes, row: Row, cmd: api.FetchFile) -> None:
        try:
            await self.host.link.ask(cmd, api.CommandDone)
        except Refused as e:
            self._show(circle, row, self.base.pop(row.id, row.text or ""))
            self.host.notify(str(e), severity="error", markup=False)

    def _show(self, circle: bytes, row: Row, text: str) -> None:
        row.text = text
        if circle == self.host.current:
            self.host.log_view.changed(row)

    def _row(self, circle: bytes, record_id: bytes) -> Row | None:
        hist = self.host.state.histories.get(circle)
        return hist.by_id.get(record_id) if hist is not None else None

    def progress(self, ev: api.FileProgress) -> None:
        row = self._row(ev.circle, ev.record_id)
        if row is not None:
            base = self.base.setdefault(row.id, row.text or "")
            self._show(ev.circle, row, f"{base} {bar(ev.have, ev.total)}")

    def fetched(self, ev: api.FileFetched) -> None:
        row = self._row(ev.circle, ev.record_id)
        base = self.base.pop(ev.record_id, row.text if row is not None else "") or ""
        if not ev.ok:
            if row is not None:
                self._show(ev.circle, row, base)
            self.host.notify(ev.message, severity="error", markup=False)
            return
        saved = Path(ev.path) if ev.path else None
        text = base
        if saved is not None and saved.suffix.lower() in IMAGE_SUFFIXES:
            dims = file_dimensions(saved)
            if dims is not None:
                text = f"[image: {saved.name} {dims[0]}x{dims[1]}] ({files.human_size(ev.total)})"
        if saved is not None:
            text += f"  saved to {saved}"
        if row is not None:
            self._show(ev.circle, row, text)
        self.host.notify(f"Saved {saved}." if saved else "Fetched.", markup=False, timeout=4)
        if row is not None and saved is not None and saved.suffix.lower() in IMAGE_SUFFIXES:
            self.host.run_worker(self._preview(ev.circle, row, saved), group="previews")

    async def _preview(self, circle: bytes, row: Row, path: Path) -> None:
        """Decode the picture off the UI thread and draw it under its line (or keep the text)."""
        if imagepreview.mode() == "off":
            return
        try:
            row.preview = await asyncio.to_thread(imagepreview.load, path)
        except imagepreview.Refused as e:
            log.info("no preview for message %s: %s", row.id.hex()[:12], e)
            return
        if circle == self.host.current:
            self.host.log_view.changed(row)


def limit_text(cap: int) -> str:
    """The circle's file limit in words ("files up to 10 MiB", "no files")."""
    return f"files up to {files.human_size(cap)}" if cap else "no files"
