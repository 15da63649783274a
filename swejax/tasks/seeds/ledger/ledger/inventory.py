"""Stock kept in first-in-first-out lots with their unit cost."""

from collections import deque


class StockError(Exception):
    pass


class Inventory:
    def __init__(self):
        self._lots = {}

    def receive(self, sku, quantity, unit_cost):
        """Add a lot of `quantity` units bought at `unit_cost` cents each."""
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        if unit_cost < 0:
            raise ValueError("unit cost cannot be negative")
        self._lots.setdefault(sku, deque()).append([quantity, unit_cost])

    def on_hand(self, sku):
        return sum(quantity for quantity, _ in self._lots.get(sku, ()))

    def value(self, sku=None):
        """Cost of the stock on hand, for one SKU or all of them."""
        skus = [sku] if sku is not None else list(self._lots)
        return sum(q * cost for s in skus for q, cost in self._lots.get(s, ()))

    def issue(self, sku, quantity):
        """Take units out, oldest lots first; returns the cost of goods issued."""
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        available = self.on_hand(sku)
        if quantity > available:
            raise StockError(f"only {available} of {sku} on hand, {quantity} requested")
        lots = self._lots[sku]
        cost = 0
        remaining = quantity
        while remaining > 0:
            lot = lots[0]
            take = min(remaining, lot[0])
            cost += take * lot[1]
            lot[0] -= take
            remaining -= take
            if lot[0] == 0:
                lots.popleft()
        return cost

    def average_cost(self, sku):
        """Weighted average unit cost of what is on hand, rounded down."""
        quantity = self.on_hand(sku)
        if quantity == 0:
            return 0
        return self.value(sku) // quantity

    def low_stock(self, thresholds):
        """SKUs whose quantity on hand is at or below their threshold, sorted."""
        return sorted(sku for sku, limit in thresholds.items() if self.on_hand(sku) <= limit)
