"""Invoices: lines, discounts and tax, all in integer cents."""

from dataclasses import dataclass, field

from ledger.money import percent_of


@dataclass
class Line:
    description: str
    quantity: int
    unit_price: int
    discount_percent: float = 0
    taxable: bool = True

    @property
    def gross(self):
        return self.quantity * self.unit_price

    @property
    def discount(self):
        return percent_of(self.gross, self.discount_percent)

    @property
    def net(self):
        return self.gross - self.discount


@dataclass
class Invoice:
    number: str
    tax_percent: float = 0
    lines: list = field(default_factory=list)
    payments: list = field(default_factory=list)

    def add(self, description, quantity, unit_price, discount_percent=0, taxable=True):
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        if not 0 <= discount_percent <= 100:
            raise ValueError("discount must be between 0 and 100 percent")
        line = Line(description, quantity, unit_price, discount_percent, taxable)
        self.lines.append(line)
        return line

    @property
    def subtotal(self):
        return sum(line.net for line in self.lines)

    @property
    def tax(self):
        taxable = sum(line.net for line in self.lines if line.taxable)
        return percent_of(taxable, self.tax_percent)

    @property
    def total(self):
        return self.subtotal + self.tax

    def pay(self, cents):
        if cents <= 0:
            raise ValueError("payment must be positive")
        if cents > self.balance:
            raise ValueError("payment exceeds the balance due")
        self.payments.append(cents)

    @property
    def balance(self):
        return self.total - sum(self.payments)

    @property
    def is_paid(self):
        return self.balance == 0
