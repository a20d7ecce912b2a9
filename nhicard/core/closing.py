"""A mixin for objects that hold something until :meth:`close`: ``with obj:`` gives ``obj``
and closes it on leaving, whether the block ends normally or by an exception."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class ClosesOnExit(ABC):
    """``__enter__`` returns the object itself; ``__exit__`` calls :meth:`close`."""

    @abstractmethod
    def close(self) -> None:
        """Release what the object holds (each subclass defines it)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
