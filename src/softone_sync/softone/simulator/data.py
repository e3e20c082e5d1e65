"""Deterministic, lazily generated base rows of the simulated ERP tables.

A base row is a pure function of ``(seed, index)``: nothing is stored, so a 1,000,000-row table
costs no memory until a row is touched, and any page can be produced in O(page). Changes made by
"ERP users" (setData, the control surface) live in an overlay on top (see ``store.py``).

Two properties the rest of the simulator relies on:

- keys are ``index + 1`` and CODEs encode the key (``C0000042``), so a key or CODE lookup is O(1);
- UPDDATE of base rows is a non-decreasing function of the index (older rows first), so an
  UPDDATE range maps to an index range by binary search and incremental queries cost time
  proportional to their result, not to the table.

Detail rows (a customer's CUSBRANCH branches) are generated the same way, but only when a whole
record is read (getData/setData): browsers and SqlData never build them, so paging costs nothing
extra.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

MASK64 = (1 << 64) - 1
EPOCH = datetime(2015, 1, 1)
# Base rows were last updated between EPOCH and BASE_END; anything changed in the simulator is
# stamped with the current time, which is later than every base row.
BASE_END = datetime(2025, 1, 1)
BASE_SPAN_SECONDS = int((BASE_END - EPOCH).total_seconds())
DETAIL_ROWS_MAX = 3
"""A generated record has 0..DETAIL_ROWS_MAX rows per detail table. Their row ids are
``index * DETAIL_ROWS_MAX + line`` (unique, below ``count * DETAIL_ROWS_MAX + 1``, where new rows'
ids start)."""
_MAX_AGE_SECONDS = 3 * 365 * 86400  # INSDATE is up to three years before UPDDATE


def mix64(seed: int, index: int) -> int:
    """splitmix64 of (seed, index): cheap, well-distributed bits for each row."""
    z = (seed * 0xD1B54A32D192ED03 + (index + 1) * 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def format_datetime(dt: datetime) -> str:
    """SoftOne's date format: ``yyyy-mm-dd hh:mm:ss``, no timezone, no ``T``."""
    return dt.replace(microsecond=0).isoformat(" ")


def format_seconds(seconds: int) -> str:
    return (EPOCH + timedelta(seconds=seconds)).isoformat(" ")


def format_cents(cents: int) -> str:
    """A money amount as SoftOne writes it: ``.`` separator, no trailing zeros (``444.6``, ``900``)."""
    whole, frac = divmod(cents, 100)
    if frac == 0:
        return str(whole)
    if frac % 10 == 0:
        return f"{whole}.{frac // 10}"
    return f"{whole}.{frac:02d}"


class BaseTable(Protocol):
    """The generated part of one ERP table."""

    count: int
    code_prefix: str

    def row(self, index: int) -> dict[str, str]: ...
    def details(self, index: int) -> dict[str, list[dict[str, str]]]: ...
    def upd_seconds(self, index: int) -> int: ...


def upd_seconds(index: int, count: int) -> int:
    """Seconds after EPOCH of the base row's UPDDATE: monotone in the index."""
    return (index * BASE_SPAN_SECONDS) // max(count, 1)


def code_index(code: str, prefix: str, count: int) -> int | None:
    """The index of the base row whose generated CODE is ``code`` (O(1) duplicate checks)."""
    if len(code) != len(prefix) + 7 or not code.startswith(prefix):
        return None
    digits = code[len(prefix) :]
    if not digits.isdigit():
        return None
    index = int(digits) - 1
    return index if 0 <= index < count else None


_NAME_FIRST = (
    "Αλφα",
    "Βήτα",
    "Δέλτα",
    "Ολυμπος",
    "Αιγαίο",
    "Ιόνιο",
    "Πήγασος",
    "Ερμής",
    "Αθηνά",
    "Ποσειδών",
    "Κρόνος",
    "Ήλιος",
    "Αστέρας",
    "Νέστωρ",
    "Όμηρος",
    "Περσεύς",
    "Αργώ",
    "Κένταυρος",
    "Ωμέγα",
    "Ζέφυρος",
)
_NAME_TRADE = (
    "Εμπορική",
    "Τεχνική",
    "Τροφίμων",
    "Κατασκευαστική",
    "Ηλεκτρονικά",
    "Ξενοδοχειακή",
    "Μεταφορική",
    "Φαρμακευτική",
    "Οικοδομική",
    "Πληροφορική",
    "Γεωργική",
    "Ναυτιλιακή",
)
_NAME_FORM = ("ΑΕ", "ΕΠΕ", "ΙΚΕ", "ΟΕ", "ΕΕ", "& ΣΙΑ ΟΕ")
_CITIES = (
    ("Αθήνα", "10431"),
    ("Θεσσαλονίκη", "54624"),
    ("Πάτρα", "26221"),
    ("Ηράκλειο", "71202"),
    ("Λάρισα", "41222"),
    ("Βόλος", "38221"),
    ("Ιωάννινα", "45221"),
    ("Χανιά", "73100"),
    ("Καβάλα", "65302"),
    ("Σέρρες", "62122"),
    ("Ρόδος", "85100"),
    ("Καλαμάτα", "24100"),
    ("Πειραιάς", "18531"),
    ("Κομοτηνή", "69100"),
    ("Τρίπολη", "22100"),
    ("Κέρκυρα", "49100"),
)
_STREETS = (
    "Ερμού",
    "Σταδίου",
    "Πανεπιστημίου",
    "Εγνατίας",
    "Τσιμισκή",
    "Κηφισίας",
    "Αγίου Νικολάου",
    "Βασιλίσσης Σοφίας",
    "Ελευθερίου Βενιζέλου",
    "Μητροπόλεως",
    "Αριστοτέλους",
    "Καραϊσκάκη",
)
_REMARKS = ("", "", "", "Πελάτης χονδρικής", "Πληρωμή με επιταγή", "Παράδοση Τρίτη & Πέμπτη", "VIP")
_DISCOUNTS = ("0", "0", "0", "5", "7.5", "10", "12.5", "15", "3.25")
_DOMAINS = ("example.gr", "mail.gr", "otenet.gr", "company.com")
_BRANCH_KINDS = ("Υποκατάστημα", "Αποθήκη", "Κατάστημα", "Γραφείο", "Εργοστάσιο")
_BRANCH_SALT = 0x2545F4914F6CDD1D  # branches draw from their own stream, unrelated to the header's

_ITEM_NOUNS = (
    "Καφές φίλτρου",
    "Ελαιόλαδο",
    "Μέλι θυμαρίσιο",
    "Φέτα ΠΟΠ",
    "Κρασί λευκό",
    "Ζάχαρη",
    "Αλεύρι",
    "Ρύζι καρολίνα",
    "Μακαρόνια",
    "Χαρτί Α4",
    "Στυλό διαρκείας",
    "Καλώδιο USB",
    "Λάμπα LED",
    "Απορρυπαντικό",
    "Σαπούνι",
    "Τσάι βουνού",
)
_ITEM_SIZES = ("250g", "500g", "1kg", "1lt", "750ml", "5lt", "τεμ.", "συσκ. 10")
_VAT_CODES = ("1410", "1410", "1410", "1310", "1510")  # 24% mostly, some 13% and 6%


class _GeneratedRows:
    """``count`` rows of one object, each a pure function of (seed, index): same seed, same rows."""

    code_prefix: str
    seed_salt = 0
    """XORed into the seed, so row i of one object and row i of another are unrelated."""

    def __init__(self, seed: int, count: int) -> None:
        self.seed = seed ^ self.seed_salt
        self.count = count

    def upd_seconds(self, index: int) -> int:
        return upd_seconds(index, self.count)

    def details(self, index: int) -> dict[str, list[dict[str, str]]]:
        """Rows of the object's detail tables for base row ``index``; absent tables are empty."""
        return {}


class CustomerBase(_GeneratedRows):
    """TRDR rows of CUSTOMER."""

    code_prefix = "C"

    def row(self, index: int) -> dict[str, str]:
        h = mix64(self.seed, index)
        key = index + 1
        upd = (index * BASE_SPAN_SECONDS) // self.count
        city, zipcode = _CITIES[(h >> 12) % len(_CITIES)]
        return {
            "TRDR": str(key),
            "CODE": f"C{key:07d}",
            "NAME": f"{_NAME_FIRST[h % 20]} {_NAME_TRADE[(h >> 5) % 12]} {_NAME_FORM[(h >> 9) % 6]}",
            "AFM": f"{(h >> 16) % 1_000_000_000:09d}",
            "EMAIL": f"info{key}@{_DOMAINS[(h >> 46) % 4]}",
            "PHONE01": f"2{(h >> 20) % 1_000_000_000:09d}",
            "ADDRESS": f"{_STREETS[(h >> 40) % 12]} {1 + (h >> 44) % 150}",
            "CITY": city,
            "ZIP": zipcode,
            "ISACTIVE": "0" if (h >> 50) % 10 == 0 else "1",
            "DISCOUNT": _DISCOUNTS[(h >> 54) % 9],
            "REMARKS": _REMARKS[(h >> 58) % 7],
            "INSDATE": format_seconds(upd - (h >> 24) % (min(upd, _MAX_AGE_SECONDS) + 1)),
            "UPDDATE": format_seconds(upd),
        }

    def details(self, index: int) -> dict[str, list[dict[str, str]]]:
        """0..3 CUSBRANCH rows with LINENUM 1..n, a pure function of (seed, index) like the header."""
        seed = self.seed ^ _BRANCH_SALT
        key = index + 1
        branches: list[dict[str, str]] = []
        # Slot 0 of the index's DETAIL_ROWS_MAX + 1 hashes decides how many rows; 1.. fill them.
        slots = index * (DETAIL_ROWS_MAX + 1)
        for line in range(1, mix64(seed, slots) % (DETAIL_ROWS_MAX + 1) + 1):
            h = mix64(seed, slots + line)
            city, zipcode = _CITIES[(h >> 8) % len(_CITIES)]
            branches.append(
                {
                    "LINENUM": str(line),
                    "TRDBRANCH": str(index * DETAIL_ROWS_MAX + line),
                    "TRDR": str(key),
                    "CODE": f"{line:03d}",
                    "NAME": f"{_BRANCH_KINDS[h % len(_BRANCH_KINDS)]} {city}",
                    "ADDRESS": f"{_STREETS[(h >> 16) % 12]} {1 + (h >> 20) % 150}",
                    "CITY": city,
                    "ZIP": zipcode,
                    "PHONE1": f"2{(h >> 28) % 1_000_000_000:09d}",
                    "EMAIL": f"branch{line}.{key}@{_DOMAINS[(h >> 58) % 4]}",
                    "ISACTIVE": "0" if (h >> 60) % 8 == 0 else "1",
                }
            )
        return {"CUSBRANCH": branches}


class ItemBase(_GeneratedRows):
    """MTRL rows of ITEM."""

    code_prefix = "I"
    seed_salt = 0x5DEECE66D  # a different stream than customers'

    def row(self, index: int) -> dict[str, str]:
        h = mix64(self.seed, index)
        key = index + 1
        upd = (index * BASE_SPAN_SECONDS) // self.count
        pricew = 50 + (h >> 8) % 50_000
        ean12 = f"520{(h >> 20) % 1_000_000_000:09d}"
        stock = (h >> 52) % 40
        return {
            "MTRL": str(key),
            "CODE": f"I{key:07d}",
            "CODE1": ean12 + _ean_check_digit(ean12),
            "NAME": f"{_ITEM_NOUNS[h % 16]} {_ITEM_SIZES[(h >> 4) % 8]}",
            "MTRGROUP": str(101 + (h >> 30) % 10),
            "PRICEW": format_cents(pricew),
            "PRICER": format_cents(pricew * (130 + (h >> 36) % 40) // 100),
            "VAT": _VAT_CODES[(h >> 42) % 5],
            "ISACTIVE": "0" if (h >> 46) % 12 == 0 else "1",
            # A third of the items are out of stock, so "ItemsWithStock" has something to skip.
            "QTY1": "0" if stock < 13 else str(stock - 12),
            "INSDATE": format_seconds(upd - (h >> 24) % (min(upd, _MAX_AGE_SECONDS) + 1)),
            "UPDDATE": format_seconds(upd),
        }


def _ean_check_digit(digits12: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits12))
    return str((10 - total % 10) % 10)


def empty_extra_row(key: int, field_names: tuple[str, ...], key_field: str) -> dict[str, str]:
    """Extension tables (CUSEXTRA) start empty for base rows."""
    row = dict.fromkeys(field_names, "")
    row[key_field] = str(key)
    return row
