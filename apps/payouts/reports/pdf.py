"""A small PDF page layout on fpdf2 (pure Python): a title block, key-value lines, a table."""

from __future__ import annotations

from decimal import Decimal

from fpdf import FPDF

from apps.core.money import format_money


def latin1(text: object) -> str:
    # The PDF core fonts speak Latin-1; anything else is shown as "?" rather than failing.
    return str(text).encode("latin-1", "replace").decode("latin-1")


def money(amount: Decimal, currency: str = "USD") -> str:
    return f"{Decimal(format_money(amount, currency)):,.2f}"


class Document:
    def __init__(self, *, title: str, brand: str):
        self.pdf = FPDF(orientation="P", unit="mm", format="A4")
        # Uncompressed: a finance PDF is small, and its figures stay greppable for checks.
        self.pdf.set_compression(False)
        self.pdf.set_title(latin1(title))
        self.pdf.set_author(latin1(brand))
        self.pdf.set_auto_page_break(auto=True, margin=15)
        self.pdf.add_page()
        self.pdf.set_font("Helvetica", "B", 16)
        self.pdf.cell(0, 9, latin1(brand), new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_font("Helvetica", "B", 13)
        self.pdf.cell(0, 8, latin1(title), new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(2)

    def facts(self, rows: list[tuple[str, str]]) -> None:
        for label, value in rows:
            self.pdf.set_font("Helvetica", "B", 10)
            self.pdf.cell(45, 6, latin1(label))
            self.pdf.set_font("Helvetica", "", 10)
            self.pdf.cell(0, 6, latin1(value), new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(3)

    def table(self, header: list[str], rows: list[list[str]], widths: list[float]) -> None:
        self.pdf.set_font("Helvetica", "B", 8.5)
        for text, width in zip(header, widths, strict=True):
            self.pdf.cell(width, 6, latin1(text), border="B")
        self.pdf.ln()
        self.pdf.set_font("Helvetica", "", 8.5)
        for row in rows:
            for n, (text, width) in enumerate(zip(row, widths, strict=True)):
                self.pdf.cell(width, 5.5, latin1(text), align="L" if n == 0 else "R")
            self.pdf.ln()

    def note(self, text: str) -> None:
        self.pdf.ln(3)
        self.pdf.set_font("Helvetica", "I", 8.5)
        self.pdf.multi_cell(0, 4.5, latin1(text))

    def output(self) -> bytes:
        return bytes(self.pdf.output())
