"""Out-of-band signalling between PIUs and the server: control messages that take no
simulated time and need no inbox (a PIU that comes back online wakes a waiting server; the
server tells a PIU that an update of it arrived too late to count)."""

from __future__ import annotations

from collections.abc import Callable


class Signalling:
    """A publish/subscribe channel of control signals.

    The server subscribes when it is built (:meth:`on_online`); a PIU publishes when it
    comes back online (:meth:`online`), and every subscriber is called at once, in the order
    they subscribed.
    """

    def __init__(self) -> None:
        self._online: list[Callable[[int], None]] = []
        self._discarded: dict[int, Callable[[int], None]] = {}

    def on_online(self, handler: Callable[[int], None]) -> None:
        """Call ``handler(piu)`` whenever a PIU comes back online."""
        self._online.append(handler)

    def online(self, piu: int) -> None:
        """PIU ``piu`` is available again."""
        for handler in self._online:
            handler(piu)

    def on_discarded(self, piu: int, handler: Callable[[int], None]) -> None:
        """Call ``handler(round_index)`` when the server discards an update of PIU ``piu``."""
        self._discarded[piu] = handler

    def discarded(self, piu: int, round_index: int) -> None:
        """The server discarded PIU ``piu``'s update of ``round_index`` (it came too late):
        for the PIU it was never delivered."""
        handler = self._discarded.get(piu)
        if handler is not None:
            handler(round_index)
