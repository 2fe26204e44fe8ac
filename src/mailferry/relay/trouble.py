"""A failure that repeats (a full disk, a dead upstream) is logged when it starts and when
it ends, not once per attempt: the log stays readable while the relay keeps retrying."""

from __future__ import annotations

import logging


class OnceLog:
    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.logger = logger
        self.what = what
        self.failing = False

    def failed(self, error: BaseException | str) -> None:
        if not self.failing:
            self.failing = True
            self.logger.error("%s: %s (retrying; logged once until it works again)",
                              self.what, error)

    def ok(self) -> None:
        if self.failing:
            self.failing = False
            self.logger.info("%s: working again", self.what)
