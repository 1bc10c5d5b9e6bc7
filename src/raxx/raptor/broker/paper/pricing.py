"""Deterministic, seeded price paths for the paper broker.

The same seed, symbol and instant always give the same price, on every process and
after every restart, with no stored state: the path is a fractal sum of hashed noise
over discrete ticks (a bounded wander around a per-symbol base price). Tests pin a
price instead (``paper_prices``), which replaces the path while it is set.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

CENT = Decimal("0.01")
_OCTAVES = 5
_MEMO_SIZE = 4096


def _unit(seed: int, symbol: str, label: str, index: int) -> float:
    """A uniform value in [-1, 1] determined by its arguments only."""
    digest = hashlib.blake2b(f"{seed}|{symbol}|{label}|{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / float(2**64 - 1) * 2.0 - 1.0


class PricePath:
    def __init__(self, *, seed: int, tick_seconds: float, volatility: float) -> None:
        self.seed = seed
        self.tick_seconds = tick_seconds
        self.volatility = volatility
        # The price is a pure function of (symbol, tick): computed once per tick, not per order.
        self._by_tick: dict[tuple[str, int], Decimal] = {}

    def base_price(self, symbol: str) -> Decimal:
        """Between 20 and 500, fixed per symbol and seed."""
        return (Decimal(20) + Decimal(int((_unit(self.seed, symbol, "base", 0) + 1) * 24000)) / 100).quantize(CENT)

    def price_at(self, symbol: str, when: datetime) -> Decimal:
        tick = math.floor(when.timestamp() / self.tick_seconds)
        known = self._by_tick.get((symbol, tick))
        if known is not None:
            return known
        if len(self._by_tick) >= _MEMO_SIZE:
            self._by_tick.clear()
        price = self._price_at_tick(symbol, tick)
        self._by_tick[(symbol, tick)] = price
        return price

    def _price_at_tick(self, symbol: str, tick: int) -> Decimal:
        wander = 0.0
        weight_sum = 0.0
        for octave in range(_OCTAVES):
            span = 2**octave
            left, frac = divmod(tick, span)
            a = _unit(self.seed, symbol, f"o{octave}", left)
            b = _unit(self.seed, symbol, f"o{octave}", left + 1)
            weight = float(span)  # slow octaves move more: the path wanders, ticks jitter
            wander += weight * (a + (b - a) * frac / span)
            weight_sum += weight
        factor = Decimal(str(1.0 + self.volatility * wander / weight_sum))
        return max(CENT, (self.base_price(symbol) * factor).quantize(CENT, rounding=ROUND_HALF_EVEN))
