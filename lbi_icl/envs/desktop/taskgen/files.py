"""Office files with the same bytes for the same content: fixed document properties and
fixed zip entry times (the writers would stamp the current time)."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from typing import Any

FIXED = dt.datetime(2024, 1, 1, 0, 0, 0)
_STAMP = re.compile(rb"(<dcterms:(?:modified|created)[^>]*>)[^<]*(</dcterms:)")


def normalize_zip(data: bytes) -> bytes:
    """The same archive with every entry dated 1980-01-01 (byte-reproducible)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # writers stamp 'modified' on save
                data = _STAMP.sub(rb"\g<1>2024-01-01T00:00:00Z\g<2>", data)
            dst.writestr(fixed, data)
    return out.getvalue()


def xlsx(
    sheets: dict[str, list[list[Any]]], *, bold_rows: dict[str, list[int]] | None = None
) -> bytes:
    """A workbook: sheet name -> rows (row 1 first). `bold_rows` makes those rows bold."""
    import openpyxl
    from openpyxl.styles import Font

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        for r in (bold_rows or {}).get(name, []):
            for cell in ws[r]:
                cell.font = Font(bold=True)
    wb.properties.created = FIXED
    wb.properties.modified = FIXED
    wb.properties.creator = "lbi desktop build-tasks"
    buf = io.BytesIO()
    wb.save(buf)
    return normalize_zip(buf.getvalue())


def docx(
    paragraphs: list[str], *, centered_first: bool = False, page_break_end: bool = False
) -> bytes:
    import docx as pydocx
    from docx.enum.text import WD_BREAK, WD_PARAGRAPH_ALIGNMENT

    doc = pydocx.Document()
    for i, text in enumerate(paragraphs):
        p = doc.add_paragraph(text)
        if i == 0 and centered_first:
            p.alignment = WD_PARAGRAPH_ALIGNMENT.CENTER
    if page_break_end:
        doc.paragraphs[-1].add_run().add_break(WD_BREAK.PAGE)
    props = doc.core_properties
    props.created = props.modified = FIXED
    props.author = "lbi desktop build-tasks"
    props.last_modified_by = ""
    props.revision = 1
    buf = io.BytesIO()
    doc.save(buf)
    return normalize_zip(buf.getvalue())


def pptx(slides: list[tuple[str, str]]) -> bytes:
    """A presentation: (title, body text) per slide, title-and-content layout."""
    from pptx import Presentation

    prs = Presentation()
    for title, body in slides:
        slide = prs.slides.add_slide(prs.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    props = prs.core_properties
    props.created = props.modified = FIXED
    props.author = "lbi desktop build-tasks"
    props.last_modified_by = ""
    props.revision = 1
    buf = io.BytesIO()
    prs.save(buf)
    return normalize_zip(buf.getvalue())
