"""Which accounts a risk-engine process holds: trading account id modulo the shard count."""

from __future__ import annotations

from dataclasses import dataclass


class ShardError(ValueError):
    pass


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ShardError(f"shard {self.index}/{self.count}: need 0 <= i < n and n >= 1")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`"i/n"`, e.g. `"0/2"`; the message says what is wrong with anything else."""
        left, sep, right = text.partition("/")
        if not sep or not left.strip().isdigit() or not right.strip().isdigit():
            raise ShardError(f"--shard {text!r} is not of the form i/n (e.g. 0/2)")
        return cls(int(left), int(right))

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, trading_account_id: int) -> bool:
        return trading_account_id % self.count == self.index


WHOLE = Shard(0, 1)
