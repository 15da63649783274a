"""Money, FIFO inventory, invoices and a double-entry journal."""

__version__ = "0.6.1"
