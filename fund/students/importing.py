"""Reading a school's student list: a CSV as French spreadsheets write it, or an XLSX from the school's information
system, into checked lines (what a student's record would hold) and refused lines (line number, field, French
reason). Pure functions: nothing here touches the database (``fund.students.imports`` plans and applies).
"""

from __future__ import annotations

import csv
import datetime
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import PydanticCustomError

from fund.core.validation import french_email, french_phone, phone_problem
from fund.students import ine as ine_rules
from fund.students.models import age_on

MAX_BYTES = 2 * 1024 * 1024  # the file as uploaded
MAX_LINES = 5000  # data lines (students), header excluded
# An XLSX is a zip: what it unpacks to is bounded too (a « zip bomb » of a few KB would unpack to gigabytes).
MAX_UNPACKED_BYTES = 40 * 1024 * 1024
MAX_RATIO = 100
HEADER_SEARCH_ROWS = 20  # the header row may follow a title, a date, a blank line…
MIN_AGE, MAX_AGE = 14, 25

# The record's fields, in the order the template and the preview show them.
FIELDS = ("last_name", "first_name", "birth_date", "ine", "trade", "guardian_name", "guardian_email", "guardian_phone")
FIELD_LABELS = {
    "last_name": "Nom",
    "first_name": "Prénom",
    "birth_date": "Date de naissance",
    "ine": "INE",
    "trade": "Formation",
    "guardian_name": "Responsable légal",
    "guardian_email": "Courriel du responsable légal",
    "guardian_phone": "Téléphone",
    "class_name": "Classe",
    "left_on": "A quitté l'école",
}
TEMPLATE_HEADERS = [FIELD_LABELS[f] for f in FIELDS[:5]] + ["Classe"] + [FIELD_LABELS[f] for f in FIELDS[5:]]

# A header as written (accents, case and punctuation ignored) → the field; whole headers first, then words.
_EXACT = {
    "nom": "last_name",
    "nom de famille": "last_name",
    "nom d usage": "last_name",
    "nom eleve": "last_name",
    "nom de l eleve": "last_name",
    "prenom": "first_name",
    "prenoms": "first_name",
    "prenom eleve": "first_name",
    "prenom de l eleve": "first_name",
    "ine": "ine",
    "n ine": "ine",
    "no ine": "ine",
    "numero ine": "ine",
    "identifiant national": "ine",
    "identifiant national eleve": "ine",
    "formation": "trade",
    "metier": "trade",
    "metier prepare": "trade",
    "specialite": "trade",
    "filiere": "trade",
    "classe": "class_name",
    "division": "class_name",
    "responsable legal": "guardian_name",
    "representant legal": "guardian_name",
    "nom du responsable legal": "guardian_name",
}
_WORDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("courriel", "mail", "email", "electronique"), "guardian_email"),
    (("telephone", "tel", "portable", "mobile"), "guardian_phone"),
    (("naissance", "ne le", "nee le", "ne e le"), "birth_date"),
    (("prenom", "prenoms"), "first_name"),
    (("ine",), "ine"),
    (("responsable", "representant", "parent", "tuteur"), "guardian_name"),
    (("formation", "metier", "specialite", "filiere"), "trade"),
    (("classe", "division"), "class_name"),
    (("nom",), "last_name"),
)


class UnreadableFile(ValueError):
    """The file cannot be read as a student list: the French reason."""


def plain(text: str) -> str:
    """Lower case, no accents, words separated by one space: for comparing names and headers."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", stripped).split())


def header_field(text: str) -> str | None:
    """The record's field a column header names (« Date de naissance », « NOM », « Courriel resp. légal »…)."""
    key = plain(text)
    if not key:
        return None
    if key in _EXACT:
        return _EXACT[key]
    words = f" {key} "
    for keys, name in _WORDS:
        if any(f" {k} " in words for k in keys):
            return name
    return None


def person_key(last_name: str, first_name: str, birth_date: datetime.date) -> str:
    """What matches a student without an INE: name and birth date, accents, case and word order ignored."""
    words = sorted(plain(f"{last_name} {first_name}").split())
    return f"{' '.join(words)}|{birth_date.isoformat()}"


# --- the file → rows of cells ------------------------------------------------------------------------------------


def decode(content: bytes) -> str:
    """UTF-8 with or without BOM, else Windows-1252 (what Excel writes in France)."""
    if content.startswith(b"\xef\xbb\xbf"):
        return content[3:].decode("utf-8", errors="replace")
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return content.decode("cp1252", errors="replace")


def delimiter_of(text: str) -> str:
    """``;`` (French Excel), ``,`` or a tab: the one that splits the first lines most consistently."""
    lines = [line for line in text.splitlines()[: HEADER_SEARCH_ROWS + 5] if line.strip()]
    best, best_score = ";", -1
    for candidate in (";", ",", "\t"):
        counts = [len(next(csv.reader([line], delimiter=candidate))) - 1 for line in lines]
        if not counts or max(counts) == 0:
            continue
        # Lines agreeing on the most common count of separators, that count as a tie-break.
        common = max(set(counts), key=counts.count)
        score = counts.count(common) * 100 + common if common else 0
        if score > best_score:
            best, best_score = candidate, score
    return best


def csv_rows(content: bytes) -> list[list[Any]]:
    text = decode(content)
    if "\x00" in text:
        raise UnreadableFile("ce fichier n'est pas un tableau CSV ou XLSX lisible")
    return [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter_of(text))]


def xlsx_rows(content: bytes) -> list[list[Any]]:
    """The first sheet's rows, read with openpyxl in read-only mode after checking what the zip unpacks to."""
    from openpyxl import load_workbook

    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        unpacked = sum(info.file_size for info in archive.infolist())
        packed = sum(info.compress_size for info in archive.infolist()) or 1
    except zipfile.BadZipFile:
        raise UnreadableFile("ce fichier XLSX est illisible (archive endommagée)") from None
    if unpacked > MAX_UNPACKED_BYTES or unpacked / packed > MAX_RATIO:
        raise UnreadableFile("ce fichier XLSX se décompresse en un volume anormal : il est refusé")
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds on a damaged or foreign file
        raise UnreadableFile("ce fichier XLSX est illisible : enregistrez-le à nouveau depuis le tableur") from None
    try:
        sheet = workbook.worksheets[0]
        rows: list[list[Any]] = []
        for row in sheet.iter_rows(values_only=True, max_col=40):
            rows.append(list(row))
            if len(rows) > MAX_LINES + HEADER_SEARCH_ROWS + 2:
                break
        return rows
    finally:
        workbook.close()


def rows_of(file_name: str, content: bytes) -> list[list[Any]]:
    if not content:
        raise UnreadableFile("le fichier est vide")
    if len(content) > MAX_BYTES:
        raise UnreadableFile(f"le fichier dépasse {MAX_BYTES // (1024 * 1024)} Mo : découpez la liste")
    if content.startswith(b"PK\x03\x04"):
        return xlsx_rows(content)
    if content.startswith((b"\xd0\xcf\x11\xe0", b"%PDF")) or file_name.lower().endswith((".xls", ".ods", ".pdf")):
        raise UnreadableFile("format non pris en charge : enregistrez la liste en CSV ou en XLSX")
    return csv_rows(content)


# --- rows → header and checked lines ---------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).replace("\u00a0", " ").split())


def _filled_right(row: Sequence[Any], width: int) -> list[str]:
    """A row above the header whose merged cells left blanks: each blank takes the text on its left."""
    out: list[str] = []
    last = ""
    for i in range(width):
        cell = _text(row[i]) if i < len(row) else ""
        last = cell or last
        out.append(last)
    return out


@dataclass
class Header:
    columns: dict[int, str]  # column index → field
    data_from: int  # index of the first data row
    ignored: list[str] = field(default_factory=list)


def find_header(rows: Sequence[Sequence[Any]]) -> Header:
    """The header: the row (or two rows, when merged cells group columns under a title) that names the most fields,
    among the first rows; a name and a birth date at least."""
    best: Header | None = None
    best_score = 0
    for i in range(min(len(rows), HEADER_SEARCH_ROWS)):
        width = max(len(rows[i]), len(rows[i + 1]) if i + 1 < len(rows) else 0)
        for depth in (1, 2):
            if i + depth > len(rows):
                continue
            columns: dict[int, str] = {}
            ignored: list[str] = []
            above = _filled_right(rows[i], width) if depth == 2 else [""] * width
            lower = rows[i + depth - 1]
            for c in range(width):
                cell = _text(lower[c]) if c < len(lower) else ""
                name = None
                if depth == 2 and above[c] and cell:
                    name = header_field(f"{above[c]} {cell}") if header_field(cell) in (None, "last_name") else None
                name = name or header_field(cell) or (header_field(above[c]) if depth == 2 else None)
                if name and name not in columns.values():
                    columns[c] = name
                elif cell:
                    ignored.append(cell)
            named = set(columns.values())
            if not {"last_name", "first_name", "birth_date"} <= named:
                continue
            score = len(named) * 10 - depth
            if score > best_score:
                best, best_score = Header(columns, i + depth, ignored), score
    if best is None:
        raise UnreadableFile(
            "en-têtes introuvables : la liste doit avoir des colonnes « Nom », « Prénom » et « Date de naissance » "
            "(téléchargez le modèle)"
        )
    return best


def parse_date(value: Any) -> datetime.date:
    """An Excel date, a day number as Excel counts them, or a text ``dd/mm/yyyy`` (also ``-`` or ``.``, or ISO)."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    text = _text(value)
    if re.fullmatch(r"\d{4,5}", text):  # an Excel serial number pasted as text
        return datetime.date(1899, 12, 30) + datetime.timedelta(days=int(text))
    match = re.fullmatch(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})(?: 00:00(?::00)?)?", text)
    if match:
        day, month, year = (int(g) for g in match.groups())
    else:
        match = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})(?:[ T]00:00(?::00)?)?", text)
        if not match:
            raise ValueError("date non reconnue : jj/mm/aaaa attendu, par exemple 27/11/2009")
        year, month, day = (int(g) for g in match.groups())
    try:
        return datetime.date(year, month, day)
    except ValueError:
        raise ValueError(f"date impossible : {text}") from None


@dataclass
class Line:
    """A line of the list, checked: the record's values (text, ISO date) and the line number people see."""

    number: int
    values: dict[str, str | None]

    @property
    def birth_date(self) -> datetime.date:
        return datetime.date.fromisoformat(str(self.values["birth_date"]))

    @property
    def key(self) -> str:
        return person_key(str(self.values["last_name"]), str(self.values["first_name"]), self.birth_date)


@dataclass
class Refusal:
    number: int
    field: str
    reason: str


@dataclass
class Reading:
    lines: list[Line]
    refused: list[Refusal]
    columns: list[str]  # the fields found, in the file's order
    ignored: list[str]  # headers not recognised (or recognised and not kept, as « Classe »)
    total: int  # data lines read (blank ones skipped)


def _check(number: int, cells: dict[str, Any], today: datetime.date) -> tuple[dict[str, str | None], Refusal | None]:
    values: dict[str, str | None] = {}
    for name in ("last_name", "first_name"):
        text = _text(cells.get(name))
        if not text:
            return values, Refusal(number, name, f"{FIELD_LABELS[name].lower()} manquant")
        if len(text) > 100:
            return values, Refusal(number, name, f"{FIELD_LABELS[name].lower()} trop long (100 caractères au plus)")
        values[name] = text
    raw_birth = cells.get("birth_date")
    if raw_birth is None or _text(raw_birth) == "":
        return values, Refusal(number, "birth_date", "date de naissance manquante")
    try:
        birth = parse_date(raw_birth)
    except ValueError as exc:
        return values, Refusal(number, "birth_date", str(exc))
    age = age_on(birth, today)
    if not MIN_AGE <= age <= MAX_AGE:
        return values, Refusal(number, "birth_date", f"âge de {age} ans : un élève a entre {MIN_AGE} et {MAX_AGE} ans")
    values["birth_date"] = birth.isoformat()
    raw_ine = ine_rules.normalise(_text(cells.get("ine")))
    if raw_ine:
        problem = ine_rules.problem(raw_ine)
        if problem:
            return values, Refusal(number, "ine", problem)
    values["ine"] = raw_ine or None
    for name, limit in (("trade", 100), ("guardian_name", 200)):
        text = _text(cells.get(name))
        if len(text) > limit:
            return values, Refusal(number, name, f"texte trop long ({limit} caractères au plus)")
        values[name] = text or None
    email = _text(cells.get("guardian_email"))
    if email:
        try:
            values["guardian_email"] = french_email(email)
        except PydanticCustomError as exc:
            return values, Refusal(number, "guardian_email", exc.message())
    else:
        values["guardian_email"] = None
    phone = _text(cells.get("guardian_phone"))
    if phone and re.fullmatch(r"[1-9]\d{8}", phone):  # a spreadsheet dropped the leading zero
        phone = "0" + phone
    if phone:
        problem = phone_problem(phone)
        if problem:
            return values, Refusal(number, "guardian_phone", problem)
        values["guardian_phone"] = french_phone(phone)
    else:
        values["guardian_phone"] = None
    return values, None


def data_rows(rows: Sequence[Sequence[Any]], header: Header) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number as the spreadsheet shows it, cells by field) for each non-blank row under the header."""
    for index in range(header.data_from, len(rows)):
        row = rows[index]
        cells = {name: row[c] for c, name in header.columns.items() if c < len(row)}
        if all(_text(v) == "" for v in row):
            continue
        yield index + 1, cells


def read(file_name: str, content: bytes, today: datetime.date | None = None) -> Reading:
    """The file's lines, each checked; a line whose INE or name and birth date repeats an earlier one is refused."""
    today = today or datetime.date.today()
    rows = rows_of(file_name, content)
    header = find_header(rows)
    lines: list[Line] = []
    refused: list[Refusal] = []
    seen_ine: dict[str, int] = {}
    seen_key: dict[str, int] = {}
    total = 0
    for number, cells in data_rows(rows, header):
        total += 1
        if total > MAX_LINES:
            raise UnreadableFile(f"la liste dépasse {MAX_LINES} lignes : découpez-la")
        values, refusal = _check(number, cells, today)
        if refusal is not None:
            refused.append(refusal)
            continue
        line = Line(number, values)
        ine = values.get("ine")
        if ine and ine in seen_ine:
            refused.append(Refusal(number, "ine", f"INE déjà donné ligne {seen_ine[ine]}"))
            continue
        if line.key in seen_key:
            refused.append(
                Refusal(number, "last_name", f"même nom et même date de naissance que la ligne {seen_key[line.key]}")
            )
            continue
        if ine:
            seen_ine[ine] = number
        seen_key[line.key] = number
        lines.append(line)
    ignored = list(header.ignored) + [FIELD_LABELS[n] for n in header.columns.values() if n == "class_name"]
    columns = [n for _, n in sorted(header.columns.items()) if n != "class_name"]
    return Reading(lines, refused, columns, ignored, total)


# --- the downloadable template ----------------------------------------------------------------------------------


def template_csv() -> bytes:
    """The template as French Excel opens it: UTF-8 with BOM, ``;``; the headers only (an example line would be
    imported as a student when left in)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(TEMPLATE_HEADERS)
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def template_xlsx() -> bytes:
    import xlsxwriter

    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = workbook.add_worksheet("Élèves")
    bold = workbook.add_format({"bold": True})
    text = workbook.add_format({"num_format": "@"})
    for c, title in enumerate(TEMPLATE_HEADERS):
        sheet.write_string(0, c, title, bold)
        sheet.set_column(c, c, max(14, len(title) + 2), text)
    workbook.close()
    return out.getvalue()
