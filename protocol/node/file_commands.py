"""What the file commands (``SendFile``, ``FetchFile``) mean, beside :mod:`protocol.node.commands`.

Sending seals the file into the profile's blob store, commits the ``file`` message to the
outbox and marks the file for the circle's relays (the node's uploader hands it over);
fetching checks the message is a file of that circle and leaves the network part to the
node (:mod:`protocol.node.filexfer`). Errors are ``ValueError`` with one sentence.
"""

from __future__ import annotations

from pathlib import Path

from protocol import files, messages
from protocol.node import api, blobstore
from protocol.node.events import Effect, Emit, FetchFile, Publish
from protocol.node.profile import Profile
from protocol.records import Record


def send_file(
    p: Profile, circle_id: bytes, path: Path, progress: blobstore.Progress | None = None
) -> tuple[files.FileInfo, Record]:
    """Seal and announce a file; its descriptor and message. Offline too (the CLI without a node)."""
    row = p.store.circle(circle_id)
    if row is None or row.status != "member":
        raise ValueError("You are not a member of that circle.")
    store = blobstore.BlobStore(p.paths.root)
    info = blobstore.prepare(store, circle_id, path, progress)
    content = messages.Content(messages.FILE, int(p.clock() * 1000), file=info)
    rec = p.send(circle_id, content)
    store.mark_upload(circle_id, info.manifest)
    return info, rec


def file_effects(p: Profile, cmd: api.SendFile | api.FetchFile) -> list[Effect]:
    rid = cmd.request_id
    if isinstance(cmd, api.SendFile):
        info, rec = send_file(p, cmd.circle, Path(cmd.path).expanduser())
        sent = api.FileSent(rid, cmd.circle, rec.id, rec.seq, info.name, info.size)
        return [Emit(sent), Publish(rec)]
    blobstore.describe(p, cmd.circle, cmd.record)  # a sentence now, before any network
    return [FetchFile(cmd.circle, cmd.record, rid, cmd.wait, cmd.save_to)]
