import pytest

from ledger.inventory import Inventory, StockError


@pytest.fixture
def stock():
    inventory = Inventory()
    inventory.receive("bolt", 10, 50)
    inventory.receive("bolt", 5, 80)
    inventory.receive("nut", 3, 20)
    return inventory


def test_on_hand(stock):
    assert stock.on_hand("bolt") == 15
    assert stock.on_hand("washer") == 0


def test_value(stock):
    assert stock.value("bolt") == 900
    assert stock.value() == 960


def test_issue_fifo_cost(stock):
    assert stock.issue("bolt", 12) == 10 * 50 + 2 * 80
    assert stock.on_hand("bolt") == 3


def test_issue_exact_lot(stock):
    assert stock.issue("bolt", 10) == 500
    assert stock.average_cost("bolt") == 80


def test_issue_too_many(stock):
    with pytest.raises(StockError, match="only 3 of nut on hand"):
        stock.issue("nut", 4)


def test_issue_all(stock):
    assert stock.issue("nut", 3) == 60
    assert stock.on_hand("nut") == 0


def test_issue_invalid_quantity(stock):
    with pytest.raises(ValueError):
        stock.issue("bolt", 0)


def test_receive_invalid():
    inventory = Inventory()
    with pytest.raises(ValueError):
        inventory.receive("x", 0, 10)
    with pytest.raises(ValueError):
        inventory.receive("x", 1, -1)


def test_receive_free_items():
    inventory = Inventory()
    inventory.receive("sample", 2, 0)
    assert inventory.on_hand("sample") == 2


def test_average_cost(stock):
    assert stock.average_cost("bolt") == 60
    assert stock.average_cost("washer") == 0


def test_low_stock(stock):
    assert stock.low_stock({"bolt": 20, "nut": 3, "washer": 0}) == ["bolt", "nut", "washer"]
    assert stock.low_stock({"bolt": 14, "nut": 2}) == []
