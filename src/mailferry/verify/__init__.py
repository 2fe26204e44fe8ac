"""`mailferry verify`: prove that every source message in scope is in the target, exactly.

Per folder pair (the same pairs `copy` makes): counts, total sizes, and every message matched
by fingerprint (a multiset), then its flags, INTERNALDATE, size and, with `deep`, the sha256
of its BODY[]. The result lists what is missing, extra or different.
"""

from mailferry.verify.model import Difference, ExcludedFolder, FolderCheck, VerifyReport
from mailferry.verify.run import verify_mailbox

__all__ = ["Difference", "ExcludedFolder", "FolderCheck", "VerifyReport", "verify_mailbox"]
