import pytest

from ledger.invoice import Invoice


def make_invoice():
    invoice = Invoice("INV-1", tax_percent=10)
    invoice.add("widget", 3, 1000)
    invoice.add("service", 1, 5000, discount_percent=20, taxable=False)
    return invoice


def test_line_amounts():
    line = make_invoice().lines[1]
    assert line.gross == 5000
    assert line.discount == 1000
    assert line.net == 4000


def test_subtotal():
    assert make_invoice().subtotal == 7000


def test_tax_only_on_taxable_lines():
    assert make_invoice().tax == 300


def test_total():
    assert make_invoice().total == 7300


def test_fractional_tax_rounds_half_up():
    invoice = Invoice("INV-2", tax_percent=7.5)
    invoice.add("thing", 1, 1010)
    assert invoice.tax == 76


def test_payments_and_balance():
    invoice = make_invoice()
    invoice.pay(300)
    assert invoice.balance == 7000
    assert not invoice.is_paid
    invoice.pay(7000)
    assert invoice.is_paid


def test_overpayment_rejected():
    invoice = make_invoice()
    with pytest.raises(ValueError, match="exceeds"):
        invoice.pay(7301)


def test_exact_payment_accepted():
    invoice = make_invoice()
    invoice.pay(7300)
    assert invoice.balance == 0


def test_invalid_payment():
    with pytest.raises(ValueError):
        make_invoice().pay(0)


def test_invalid_line():
    invoice = Invoice("INV-3")
    with pytest.raises(ValueError):
        invoice.add("x", 0, 100)
    with pytest.raises(ValueError):
        invoice.add("x", 1, 100, discount_percent=101)


def test_full_discount_allowed():
    invoice = Invoice("INV-4")
    invoice.add("gift", 2, 999, discount_percent=100)
    assert invoice.total == 0
