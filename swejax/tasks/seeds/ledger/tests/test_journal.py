import datetime

import pytest

from ledger.journal import Journal, JournalError, Posting, aging, month_end

D = datetime.date
ACCOUNTS = {"cash": "asset", "sales": "income", "rent": "expense", "loan": "liability"}


def make_journal():
    journal = Journal(ACCOUNTS)
    journal.post(D(2024, 1, 5), "loan", [Posting("cash", debit=10000), Posting("loan", credit=10000)])
    journal.post(D(2024, 1, 10), "sale", [Posting("cash", debit=2500), Posting("sales", credit=2500)])
    journal.post(D(2024, 2, 1), "rent", [Posting("rent", debit=3000), Posting("cash", credit=3000)])
    return journal


def test_balances():
    journal = make_journal()
    assert journal.balance("cash") == 9500
    assert journal.balance("loan") == 10000
    assert journal.balance("sales") == 2500
    assert journal.balance("rent") == 3000


def test_balance_until_date():
    assert make_journal().balance("cash", until=D(2024, 1, 31)) == 12500


def test_balance_until_includes_that_day():
    assert make_journal().balance("cash", until=D(2024, 1, 10)) == 12500


def test_trial_balance_balances():
    assert make_journal().trial_balance() == (12500, 12500)


def test_unbalanced_entry():
    journal = Journal(ACCOUNTS)
    with pytest.raises(JournalError, match="unbalanced"):
        journal.post(D(2024, 1, 1), "bad", [Posting("cash", debit=5), Posting("sales", credit=4)])


def test_single_posting_rejected():
    journal = Journal(ACCOUNTS)
    with pytest.raises(JournalError, match="two postings"):
        journal.post(D(2024, 1, 1), "bad", [Posting("cash")])


def test_unknown_account():
    journal = Journal(ACCOUNTS)
    with pytest.raises(JournalError, match="unknown account"):
        journal.post(D(2024, 1, 1), "bad", [Posting("cash", debit=1), Posting("bank", credit=1)])


def test_negative_amount():
    journal = Journal(ACCOUNTS)
    with pytest.raises(JournalError, match="negative"):
        journal.post(D(2024, 1, 1), "bad", [Posting("cash", debit=-1), Posting("sales", credit=-1)])


def test_aging_buckets():
    today = D(2024, 6, 30)
    items = [
        (D(2024, 6, 30), 100),
        (D(2024, 5, 31), 200),
        (D(2024, 5, 30), 400),
        (D(2024, 4, 30), 800),
        (D(2024, 1, 1), 1600),
        (D(2024, 7, 10), 3200),
    ]
    assert aging(items, today) == {"current": 3500, "31-60": 400, "61-90": 800, "over 90": 1600}


def test_month_end():
    assert month_end(D(2024, 2, 10)) == D(2024, 2, 29)
    assert month_end(D(2023, 12, 31)) == D(2023, 12, 31)
    assert month_end(D(2023, 4, 1)) == D(2023, 4, 30)
