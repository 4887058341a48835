"""What the file commands (``SendFile``, ``FetchFile``, ``SetFileCap``) mean, beside :mod:`.commands`.

Sending seals the file into the profile's blob store, commits the ``file`` message to the
outbox and marks the file for the circle's relays (the node's uploader hands it over);
fetching checks the message is a file of that circle and leaves the network part to the
node (:mod:`protocol.node.filexfer`). An admin's ``filecap`` record sets the circle's file
limit (:func:`set_file_cap`), which sending and fetching both hold to. Errors are ``ValueError``
with one sentence.
"""

from __future__ import annotations

from pathlib import Path

from protocol import actions, files, messages
from protocol.node import api, blobstore
from protocol.node.events import Effect, Emit, FetchFile, KickOutbox, Publish
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
    info = blobstore.prepare(store, circle_id, path, progress, p.view(circle_id).roster.file_cap)
    content = messages.Content(messages.FILE, int(p.clock() * 1000), file=info)
    rec = p.send(circle_id, content)
    store.mark_upload(circle_id, info.manifest)
    return info, rec


def set_file_cap(p: Profile, circle_id: bytes, cap: int) -> Record:
    """Commit an admin's ``filecap`` record (``RosterError`` with a sentence otherwise)."""
    view = p.view(circle_id)
    rec = actions.set_file_cap(p.identity, view.roster, view.next_pos(p.me), cap, int(p.clock() * 1000))
    with p.store.tx():
        p.ledger.commit_own(rec)
    return rec


def file_effects(p: Profile, cmd: api.SendFile | api.FetchFile | api.SetFileCap) -> list[Effect]:
    rid = cmd.request_id
    if isinstance(cmd, api.SetFileCap):
        set_file_cap(p, cmd.circle, cmd.cap)
        return [Emit(api.CommandDone(rid)), KickOutbox()]
    if isinstance(cmd, api.SendFile):
        info, rec = send_file(p, cmd.circle, Path(cmd.path).expanduser())
        sent = api.FileSent(rid, cmd.circle, rec.id, rec.seq, info.name, info.size)
        return [Emit(sent), Publish(rec)]
    blobstore.describe(p, cmd.circle, cmd.record)  # a sentence now, before any network
    return [FetchFile(cmd.circle, cmd.record, rid, cmd.wait, cmd.save_to)]
