"""A small generic registry in the spirit of lm-evaluation-harness's ``Registry``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from oneshotbench.errors import LookupFailure

T = TypeVar("T")


class Registry(Generic[T]):
    """Named objects of one kind; a failed look-up says what exists."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator (or plain call) adding ``item`` under ``name``; duplicates are a bug."""

        def add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = item
            return item

        return add

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise LookupFailure(f"unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items
