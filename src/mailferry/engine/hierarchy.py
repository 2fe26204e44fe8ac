"""Creating the target's folders the way the server can hold them (issue 20 point 1).

Most servers let a folder hold mail and child folders at once. Some do not: GNU imap4d keeps
a folder as one mbox file (mail, `\\NoInferiors`) or as a directory (children, `\\Noselect`),
never both, so `CREATE Archive/2003` is refused once `Archive` exists. Folders are created
parents first; when a child is refused under a parent this run just created (so empty) and
the server lists that parent `\\NoInferiors`, the side holding more source messages is kept:
the parent is deleted and the child created (the server then makes the parent a folder of
folders), or the child stays refused. Whatever the target cannot hold is that folder's
failure, with the server's words; every other folder goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mailferry.engine.folders import FolderPair
from mailferry.errors import CommandFailed, TryAgainLater
from mailferry.imap import ImapSession

HIERARCHY_ONLY = ("the target holds this folder only as a folder of folders (\\Noselect): the "
                  "server cannot keep mail in a folder that has child folders")


@dataclass
class TargetFolders:
    """Creates the planned target folders; afterwards `unusable` says, per target wire name,
    why a folder cannot receive its source messages."""

    session: ImapSession
    pairs: Sequence[FolderPair]
    source_messages: Callable[[FolderPair], int]  # the source folder's message count
    subscribed: frozenset[bytes] = frozenset()  # target folders subscribed already
    # target folders listed \Noselect: they can hold no mail (yet)
    hierarchy_only: set[bytes] = field(default_factory=set)
    created: list[FolderPair] = field(default_factory=list)
    unusable: dict[bytes, str] = field(default_factory=dict)

    def create(self) -> None:
        done = self._create_at_once()
        for pair in self.pairs:  # parents first (plan_folders sorts by depth)
            if pair.target_wire in done:
                self.created.append(pair)
                continue
            if pair.target_exists:
                if pair.target_wire in self.hierarchy_only:
                    self._make_selectable(pair)
                if pair.subscribe and pair.target_wire not in self.subscribed:
                    self.session.subscribe(pair.target_wire)
                continue
            try:
                self.session.create_mailbox(pair.target_wire, subscribe=pair.subscribe)
            except TryAgainLater:
                raise
            except CommandFailed as exc:
                if not self._make_room(pair):
                    self.unusable[pair.target_wire] = (
                        f"the target refused to create this folder: {exc.text}")
                    continue
            self.created.append(pair)
        for pair in self.pairs:
            if (pair.target_wire in self.hierarchy_only and pair.source.selectable
                    and self.source_messages(pair)):
                self.unusable.setdefault(pair.target_wire, HIERARCHY_ONLY)

    def _create_at_once(self) -> set[bytes]:
        """The new folders' CREATEs and then their SUBSCRIBEs, all in one write: one round
        trip, not one or two per folder (the SUBSCRIBEs waiting for the CREATEs' answers
        were a second one). Returns the target names done as planned; a folder the server
        refused either command for takes the one-by-one path of `create` (it asks again and
        gets the same answer, handled with the hierarchy's rules), which also runs alone
        when the names need literals. A name subscribed although its CREATE was refused
        (RFC 3501 lets a server subscribe a name that does not exist) is unsubscribed: the
        target keeps no subscription the copy did not mean."""
        new = [pair for pair in self.pairs if not pair.target_exists]
        wanted = [pair.target_wire for pair in new if pair.subscribe]
        answers = self.session.each_mailbox([(b"CREATE", pair.target_wire) for pair in new]
                                            + [(b"SUBSCRIBE", wire) for wire in wanted])
        if answers is None:
            return set()
        created = dict(zip([pair.target_wire for pair in new], answers[:len(new)], strict=True))
        subscribed = dict(zip(wanted, answers[len(new):], strict=True))
        stray = [wire for wire, refused in subscribed.items()
                 if refused is None and created[wire] is not None and wire not in self.subscribed]
        if stray:
            self.session.each_mailbox([(b"UNSUBSCRIBE", wire) for wire in stray])
        return {wire for wire, refused in created.items()
                if refused is None and subscribed.get(wire) is None}

    def _make_selectable(self, pair: FolderPair) -> None:
        """A \\Noselect target folder where the source has mail: CREATE makes it a mailbox on
        most servers (Dovecot); imap4d answers that it exists, and it stays a directory."""
        if not pair.source.selectable or not self.source_messages(pair):
            return
        try:
            self.session.create_mailbox(pair.target_wire, subscribe=False)
        except CommandFailed:
            return
        if any(e.name == pair.target_wire and e.selectable
               for e in self.session.list_matching(pair.target_wire)):
            self.hierarchy_only.discard(pair.target_wire)

    def _parent(self, pair: FolderPair) -> FolderPair | None:
        parent = pair.target_display.rsplit("/", 1)[0] if "/" in pair.target_display else None
        return next((p for p in self.created if p.target_display == parent), None)

    def _subtree_messages(self, pair: FolderPair) -> int:
        below = [p for p in self.pairs if p.target_display.startswith(pair.target_display + "/")]
        return sum(self.source_messages(p) for p in below if p.source.selectable)

    def _make_room(self, child: FolderPair) -> bool:
        """The child refused under a parent created this run that the server says can have
        no children: delete the empty parent and create the child when the parent's subtree
        holds more source messages than the parent itself."""
        parent = self._parent(child)
        if parent is None or not self._no_inferiors(parent.target_wire):
            return False
        own = self.source_messages(parent) if parent.source.selectable else 0
        if own >= self._subtree_messages(parent):
            return False
        try:
            self.session.delete_mailbox(parent.target_wire)
        except CommandFailed:
            return False
        try:
            self.session.create_mailbox(child.target_wire, subscribe=child.subscribe)
        except CommandFailed:
            self.session.create_mailbox(parent.target_wire, subscribe=parent.subscribe)
            return False
        self.hierarchy_only.add(parent.target_wire)
        return True

    def _no_inferiors(self, wire: bytes) -> bool:
        return any(e.name == wire and "\\noinferiors" in {a.lower() for a in e.attributes}
                   for e in self.session.list_matching(wire))
