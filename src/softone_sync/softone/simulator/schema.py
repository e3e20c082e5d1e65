"""Metadata of the simulated ERP: objects, their tables, fields and saved browser lists.

This is what getObjects / getObjectTables / getTableFields / getBrowserInfo describe, and what
setData validates against. Two objects, shaped like a real S1 install: CUSTOMER (main table alias
CUSTOMER on the physical table TRDR, the one-row CUSEXTRA extension table and the CUSBRANCH detail
table of branches, whose rows setData identifies by LINENUM) and ITEM (ITEM on MTRL).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FieldKind = Literal["string", "int", "float", "date", "bool"]

# getTableFields "type"/"edittype" and getBrowserInfo field "type" per kind, as S1 reports them.
_TYPE_NAMES: dict[FieldKind, tuple[str, str, str]] = {
    "string": ("String", "Simple", "string"),
    "int": ("Integer", "Simple", "int"),
    "float": ("Float", "Simple", "float"),
    "date": ("DateTime", "CalendarDate", "date"),
    "bool": ("SmallInt", "Check", "int"),
}


@dataclass(frozen=True)
class FieldDef:
    name: str
    caption: str
    kind: FieldKind = "string"
    size: int = 0  # maximum length of string values; 0 means "not a string" or unlimited
    decimals: int = 0
    required: bool = False
    read_only: bool = False
    calculated: bool = False

    @property
    def type_name(self) -> str:
        return _TYPE_NAMES[self.kind][0]

    @property
    def edit_type(self) -> str:
        return _TYPE_NAMES[self.kind][1]

    @property
    def browser_type(self) -> str:
        return _TYPE_NAMES[self.kind][2]


@dataclass(frozen=True)
class TableDef:
    alias: str  # the name used inside the object (CUSTOMER, CUSEXTRA)
    dbname: str  # the physical table (TRDR, TRDEXTRA)
    caption: str
    fields: tuple[FieldDef, ...]
    row_id: str = ""
    """Detail tables only: the server-assigned identity column of a row (TRDBRANCH)."""

    def field(self, name: str) -> FieldDef | None:
        upper = name.upper()
        for f in self.fields:
            if f.name == upper:
                return f
        return None

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


@dataclass(frozen=True)
class BrowserList:
    """A saved browser: which columns it shows and which fields its filter dialog exposes."""

    name: str
    columns: tuple[str, ...]
    filters: tuple[str, ...]


@dataclass(frozen=True)
class ObjectDef:
    name: str
    caption: str
    key: str  # key field of the main table (TRDR, MTRL)
    main: TableDef
    extras: tuple[TableDef, ...] = ()
    """One-row extension tables (CUSEXTRA): a record has exactly one row in each."""
    details: tuple[TableDef, ...] = ()
    """Detail (child) tables (CUSBRANCH): zero or more rows, identified by LINENUM."""
    lists: tuple[BrowserList, ...] = field(default=())

    @property
    def tables(self) -> tuple[TableDef, ...]:
        return (self.main, *self.extras, *self.details)

    def is_detail(self, table: TableDef) -> bool:
        return table in self.details

    def table(self, name: str) -> TableDef | None:
        upper = name.upper()
        for t in self.tables:
            if upper in (t.alias, t.dbname):
                return t
        return None

    def browser_list(self, name: str) -> BrowserList | None:
        lowered = name.lower()
        for lst in self.lists:
            if lst.name.lower() == lowered:
                return lst
        return None


CUSTOMER = ObjectDef(
    name="CUSTOMER",
    caption="Πελάτες",
    key="TRDR",
    main=TableDef(
        alias="CUSTOMER",
        dbname="TRDR",
        caption="Πελάτες",
        fields=(
            FieldDef("TRDR", "Α/Α", "int", read_only=True),
            FieldDef("CODE", "Κωδικός", size=25, required=True),
            FieldDef("NAME", "Επωνυμία", size=128, required=True),
            FieldDef("AFM", "Α.Φ.Μ.", size=20),
            FieldDef("EMAIL", "Email", size=100),
            FieldDef("PHONE01", "Τηλέφωνο 1", size=30),
            FieldDef("ADDRESS", "Διεύθυνση", size=128),
            FieldDef("CITY", "Πόλη", size=50),
            FieldDef("ZIP", "Τ.Κ.", size=10),
            FieldDef("ISACTIVE", "Ενεργός", "bool"),
            FieldDef("DISCOUNT", "Έκπτωση %", "float", decimals=2),
            FieldDef("REMARKS", "Σχόλια", size=2000),
            FieldDef("INSDATE", "Ημ/νία εισαγωγής", "date", read_only=True),
            FieldDef("UPDDATE", "Ημ/νία μεταβολής", "date", read_only=True),
        ),
    ),
    extras=(
        TableDef(
            alias="CUSEXTRA",
            dbname="TRDEXTRA",
            caption="Επιπλέον στοιχεία",
            fields=(
                FieldDef("TRDR", "Α/Α", "int", read_only=True),
                FieldDef("VARCHAR01", "Αλφαριθμητικό 1", size=100),
                FieldDef("NUM01", "Αριθμητικό 1", "float", decimals=2),
                FieldDef("BOOL01", "Επιλογή 1", "bool"),
                FieldDef("DATE01", "Ημερομηνία 1", "date"),
            ),
        ),
    ),
    details=(
        TableDef(
            alias="CUSBRANCH",
            dbname="TRDBRANCH",
            caption="Υποκαταστήματα",
            fields=(
                FieldDef("LINENUM", "Α/Α γραμμής", "int"),
                FieldDef("TRDBRANCH", "Α/Α υποκαταστήματος", "int", read_only=True),
                FieldDef("TRDR", "Α/Α συναλλασσόμενου", "int", read_only=True),
                FieldDef("CODE", "Κωδικός", size=25),
                FieldDef("NAME", "Επωνυμία", size=128, required=True),
                FieldDef("ADDRESS", "Διεύθυνση", size=128),
                FieldDef("CITY", "Πόλη", size=50),
                FieldDef("ZIP", "Τ.Κ.", size=10),
                FieldDef("PHONE1", "Τηλέφωνο", size=30),
                FieldDef("EMAIL", "Email", size=100),
                FieldDef("ISACTIVE", "Ενεργό", "bool"),
            ),
            row_id="TRDBRANCH",
        ),
    ),
    lists=(
        BrowserList(
            name="",
            columns=("CODE", "NAME", "AFM", "CITY", "PHONE01", "ISACTIVE"),
            filters=("CODE", "NAME", "AFM", "CITY", "ISACTIVE"),
        ),
        # The incremental-sync list integrators save (cf. the "monitor" list in public PHP code):
        # every column plus UPDDATE/INSDATE exposed in its filter dialog.
        BrowserList(
            name="monitor",
            columns=(
                "CODE", "NAME", "AFM", "EMAIL", "PHONE01", "ADDRESS", "CITY", "ZIP",
                "ISACTIVE", "DISCOUNT", "REMARKS", "INSDATE", "UPDDATE",
            ),
            filters=("CODE", "NAME", "CITY", "ISACTIVE", "INSDATE", "UPDDATE"),
        ),
    ),
)  # fmt: skip

ITEM = ObjectDef(
    name="ITEM",
    caption="Είδη",
    key="MTRL",
    main=TableDef(
        alias="ITEM",
        dbname="MTRL",
        caption="Είδη",
        fields=(
            FieldDef("MTRL", "Α/Α", "int", read_only=True),
            FieldDef("CODE", "Κωδικός", size=50, required=True),
            FieldDef("CODE1", "Barcode", size=25),
            FieldDef("NAME", "Περιγραφή", size=128, required=True),
            FieldDef("MTRGROUP", "Ομάδα", "int"),
            FieldDef("PRICEW", "Τιμή χονδρικής", "float", decimals=2),
            FieldDef("PRICER", "Τιμή λιανικής", "float", decimals=2),
            FieldDef("VAT", "Κατηγορία ΦΠΑ", "int"),
            FieldDef("ISACTIVE", "Ενεργό", "bool"),
            FieldDef("QTY1", "Υπόλοιπο αποθήκης", "float", decimals=2, read_only=True, calculated=True),
            FieldDef("INSDATE", "Ημ/νία εισαγωγής", "date", read_only=True),
            FieldDef("UPDDATE", "Ημ/νία μεταβολής", "date", read_only=True),
        ),
    ),
    lists=(
        BrowserList(
            name="",
            columns=("CODE", "NAME", "MTRGROUP", "PRICER", "ISACTIVE"),
            filters=("CODE", "NAME", "MTRGROUP", "ISACTIVE"),
        ),
        BrowserList(
            name="WSItems",
            columns=(
                "CODE", "CODE1", "NAME", "MTRGROUP", "PRICEW", "PRICER", "VAT", "ISACTIVE",
                "QTY1", "INSDATE", "UPDDATE",
            ),
            filters=("CODE", "CODE1", "NAME", "MTRGROUP", "ISACTIVE", "UPDDATE"),
        ),
    ),
)  # fmt: skip

OBJECTS: dict[str, ObjectDef] = {o.name: o for o in (CUSTOMER, ITEM)}


def find_object(name: str) -> ObjectDef | None:
    """Object names are case-insensitive (an official sample posts ``"OBJECT":"saldoc"``)."""
    return OBJECTS.get(name.strip().upper())
