"""A double-entry journal: every entry's debits equal its credits."""

import datetime
from dataclasses import dataclass

# Accounts whose balance grows with debits; the others grow with credits.
DEBIT_NORMAL = ("asset", "expense")
AGING_BUCKETS = ((0, "current"), (31, "31-60"), (61, "61-90"), (91, "over 90"))


@dataclass(frozen=True)
class Posting:
    account: str
    debit: int = 0
    credit: int = 0


class JournalError(Exception):
    pass


class Journal:
    def __init__(self, accounts):
        """`accounts` maps account names to their kind (asset, liability, ...)."""
        self.accounts = dict(accounts)
        self.entries = []

    def post(self, date, memo, postings):
        debits = sum(p.debit for p in postings)
        credits = sum(p.credit for p in postings)
        if debits != credits:
            raise JournalError(f"unbalanced entry {memo!r}: {debits} != {credits}")
        if len(postings) < 2:
            raise JournalError("an entry needs at least two postings")
        for posting in postings:
            if posting.account not in self.accounts:
                raise JournalError(f"unknown account {posting.account!r}")
            if posting.debit < 0 or posting.credit < 0:
                raise JournalError("amounts cannot be negative")
        self.entries.append((date, memo, tuple(postings)))

    def balance(self, account, until=None):
        """Balance in the account's normal direction, optionally up to a date."""
        debit = credit = 0
        for date, _, postings in self.entries:
            if until is not None and date > until:
                continue
            for posting in postings:
                if posting.account == account:
                    debit += posting.debit
                    credit += posting.credit
        if self.accounts[account] in DEBIT_NORMAL:
            return debit - credit
        return credit - debit

    def trial_balance(self):
        """(total debits, total credits) over all accounts' balances."""
        debits = credits = 0
        for account, kind in self.accounts.items():
            amount = self.balance(account)
            if (kind in DEBIT_NORMAL) == (amount >= 0):
                debits += abs(amount)
            else:
                credits += abs(amount)
        return debits, credits


def aging(open_items, today):
    """Group unpaid amounts by days past due: {bucket: total cents}.

    `open_items` is a list of (due_date, cents).
    """
    report = {name: 0 for _, name in AGING_BUCKETS}
    for due, cents in open_items:
        days = (today - due).days
        bucket = AGING_BUCKETS[0][1]
        for start, name in AGING_BUCKETS:
            if days >= start:
                bucket = name
        report[bucket] += cents
    return report


def month_end(date):
    """The last day of `date`'s month."""
    first_next = (date.replace(day=1) + datetime.timedelta(days=32)).replace(day=1)
    return first_next - datetime.timedelta(days=1)
