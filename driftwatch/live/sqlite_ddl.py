"""What SQLite keeps only in the text of its CREATE statements. Pure: text in, values out.

SQLite stores each table's, index's and view's CREATE statement as it was written
(`sqlite_master.sql`) and its pragmas report only part of it: CHECK constraints, the names
of constraints, a generated column's expression, a column's COLLATE, AUTOINCREMENT,
DEFERRABLE, an index's expressions and WHERE clause, and a view's query are in the text
alone. A small tokenizer makes quoted names, string literals, comments and parenthesised
groups units of their own, so that a "CHECK (" inside a string, a default or a name is not
taken for a constraint; clauses come back as their source text, as written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

_CLOSING_QUOTE = {"'": "'", '"': '"', "`": "`", "[": "]"}
_TABLE_CONSTRAINTS = frozenset({"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"})


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "word", "name" (a quoted identifier), "string", "(", ")", ",", "op"
    text: str  # a word as written, a name or string without its quotes, punctuation itself
    start: int
    end: int

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnText:
    """What a column definition says that `PRAGMA table_xinfo` does not."""

    collation: str | None = None  # as written after COLLATE
    generated: str | None = None  # the expression of GENERATED ALWAYS AS (...)
    autoincrement: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ForeignKeyText:
    name: str | None
    columns: tuple[str, ...]
    referred_table: str
    deferrable: str | None  # None, "DEFERRABLE", "DEFERRABLE INITIALLY DEFERRED"


@dataclass(frozen=True, slots=True, kw_only=True)
class TableText:
    """A CREATE TABLE statement's columns and constraints, in the order written.

    Column names are keys in lower case, as SQLite compares them.
    """

    columns: Mapping[str, ColumnText] = field(default_factory=dict)
    primary_key_name: str | None = None
    uniques: tuple[tuple[str | None, tuple[str, ...]], ...] = ()  # (name, columns)
    foreign_keys: tuple[ForeignKeyText, ...] = ()
    checks: tuple[tuple[str | None, str], ...] = ()  # (name, condition as written)


def parse_table(sql: str) -> TableText:
    """The columns and constraints of a CREATE TABLE statement (nothing for AS SELECT)."""
    tokens = _tokens(sql)
    builder = _TableBuilder(sql)
    opening = next((i for i, t in enumerate(tokens) if t.kind == "("), None)
    if opening is not None and not any(t.is_word("AS") for t in tokens[:opening]):
        for item in _items(tokens, opening + 1, _closing(tokens, opening)):
            if item[0].is_word(*_TABLE_CONSTRAINTS):
                builder.constraints(item, 0, column=None)
            else:
                builder.constraints(item, 1, column=item[0].text)
    return builder.result()


def check_constraints(sql: str) -> list[tuple[str | None, str]]:
    """(name or None, condition as written) of every CHECK constraint of a CREATE TABLE."""
    return list(parse_table(sql).checks)


def parse_index(sql: str) -> tuple[tuple[str, ...], str | None]:
    """A CREATE INDEX statement's keys (expressions without their COLLATE, ASC or DESC, which
    `PRAGMA index_xinfo` reports) and its WHERE condition, as written."""
    tokens = _tokens(sql)
    on = next((i for i, t in enumerate(tokens) if t.is_word("ON")), len(tokens))
    opening = next((i for i in range(on, len(tokens)) if tokens[i].kind == "("), None)
    if opening is None:
        return (), None
    closing = _closing(tokens, opening)
    keys = tuple(_key_expression(sql, item) for item in _items(tokens, opening + 1, closing))
    rest = tokens[closing + 1 :]
    where = None
    if len(rest) > 1 and rest[0].is_word("WHERE"):
        where = _source(sql, rest[1:])
    return keys, where


def view_query(sql: str) -> str:
    """The query of a CREATE VIEW statement, as written."""
    tokens = _tokens(sql)
    depth = 0
    for i, token in enumerate(tokens):
        depth += {"(": 1, ")": -1}.get(token.kind, 0)
        if depth == 0 and token.is_word("AS") and i + 1 < len(tokens):
            return _source(sql, tokens[i + 1 :])
    return sql.strip()


# --- the tokenizer ------------------------------------------------------------------------


def _tokens(sql: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, length = 0, len(sql)
    while i < length:
        char = sql[i]
        if char.isspace():
            i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = length if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = length if end < 0 else end + 2
        elif char in _CLOSING_QUOTE:
            end = _quoted_end(sql, i, _CLOSING_QUOTE[char])
            inner = sql[i + 1 : end - 1]
            if char != "[":  # a doubled quote stands for one; brackets have no escape
                inner = inner.replace(char * 2, char)
            tokens.append(_Token("string" if char == "'" else "name", inner, i, end))
            i = end
        elif _word_char(char):
            end = i
            while end < length and _word_char(sql[end]):
                end += 1
            tokens.append(_Token("word", sql[i:end], i, end))
            i = end
        else:
            tokens.append(_Token(char if char in "()," else "op", char, i, i + 1))
            i += 1
    return tokens


def _word_char(char: str) -> bool:
    return char.isalnum() or char in "_$" or ord(char) > 127


def _quoted_end(sql: str, start: int, close: str) -> int:
    """The position after the quote that closes the one at `start`."""
    i = start + 1
    while i < len(sql):
        if sql[i] == close:
            if close != "]" and sql[i + 1 : i + 2] == close:
                i += 2
                continue
            return i + 1
        i += 1
    return len(sql)


def _closing(tokens: list[_Token], opening: int) -> int:
    """The index of the ")" that closes the "(" at `opening` (the end if none does)."""
    depth = 0
    for i in range(opening, len(tokens)):
        if tokens[i].kind == "(":
            depth += 1
        elif tokens[i].kind == ")":
            depth -= 1
            if depth == 0:
                return i
    return len(tokens)


def _items(tokens: list[_Token], start: int, end: int) -> list[list[_Token]]:
    """tokens[start:end] split at the commas outside parentheses; empty items dropped."""
    items: list[list[_Token]] = [[]]
    depth = 0
    for token in tokens[start:end]:
        if token.kind == "," and depth == 0:
            items.append([])
            continue
        depth += {"(": 1, ")": -1}.get(token.kind, 0)
        items[-1].append(token)
    return [item for item in items if item]


def _source(sql: str, tokens: list[_Token]) -> str:
    """The text `tokens` span, as written (a trailing semicolon left out)."""
    if tokens and tokens[-1].kind == "op" and tokens[-1].text == ";":
        tokens = tokens[:-1]
    return sql[tokens[0].start : tokens[-1].end].strip() if tokens else ""


def _key_expression(sql: str, item: list[_Token]) -> str:
    if item[-1].is_word("ASC", "DESC"):
        item = item[:-1]
    if len(item) > 2 and item[-2].is_word("COLLATE"):
        item = item[:-2]
    return _source(sql, item)


def _names(tokens: list[_Token], opening: int) -> tuple[str, ...]:
    """The column names listed in the group at `opening`: the first token of each item."""
    return tuple(item[0].text for item in _items(tokens, opening + 1, _closing(tokens, opening)))


# --- the parser ---------------------------------------------------------------------------


class _Definition:
    """One column definition or table constraint as it is read, left to right."""

    __slots__ = ("collation", "column", "generated", "item", "name")

    def __init__(self, item: list[_Token], column: str | None) -> None:
        self.item = item
        self.column = column  # None for a table constraint
        self.collation: str | None = None
        self.generated: str | None = None
        self.name: str | None = None  # set by CONSTRAINT name, for the constraint after it

    def take_name(self) -> str | None:
        name, self.name = self.name, None
        return name

    def word(self, i: int) -> str:
        token = self.item[i] if i < len(self.item) else None
        return token.text.upper() if token is not None and token.kind == "word" else ""

    def group_at(self, i: int) -> bool:
        return i < len(self.item) and self.item[i].kind == "("


Handler = Callable[["_TableBuilder", _Definition, int], int]


class _TableBuilder:
    """Collects what the column definitions and table constraints of one table say."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.columns: dict[str, ColumnText] = {}
        self.primary_key_name: str | None = None
        self.uniques: list[tuple[str | None, tuple[str, ...]]] = []
        self.foreign_keys: list[ForeignKeyText] = []
        self.checks: list[tuple[str | None, str]] = []
        self.autoincrement: set[str] = set()

    def result(self) -> TableText:
        columns = {
            key: ColumnText(
                collation=text.collation,
                generated=text.generated,
                autoincrement=key in self.autoincrement,
            )
            for key, text in self.columns.items()
        }
        return TableText(
            columns=columns,
            primary_key_name=self.primary_key_name,
            uniques=tuple(self.uniques),
            foreign_keys=tuple(self.foreign_keys),
            checks=tuple(self.checks),
        )

    def constraints(self, item: list[_Token], i: int, *, column: str | None) -> None:
        """The constraints of a column definition (from `i`, after its name; type words are
        passed over) or of a table constraint (column None)."""
        definition = _Definition(item, column)
        while i < len(item):
            if item[i].kind == "(":  # a type's arguments
                i = _closing(item, i) + 1
                continue
            handler = _HANDLERS.get(definition.word(i))
            i = handler(self, definition, i) if handler else i + 1
        if column is not None:
            self.columns[column.lower()] = ColumnText(
                collation=definition.collation, generated=definition.generated
            )

    def constraint_name(self, definition: _Definition, i: int) -> int:
        if i + 1 < len(definition.item):
            definition.name = definition.item[i + 1].text
        return i + 2

    def check(self, definition: _Definition, i: int) -> int:
        name = definition.take_name()
        if not definition.group_at(i + 1):
            return i + 1
        closing = _closing(definition.item, i + 1)
        self.checks.append((name, _source(self.sql, definition.item[i + 2 : closing])))
        return closing + 1

    def primary_key(self, definition: _Definition, i: int) -> int:
        self.primary_key_name = definition.take_name()
        item, column = definition.item, definition.column
        if column is not None:
            # PRIMARY KEY [ASC|DESC] [conflict clause] AUTOINCREMENT
            if any(t.is_word("AUTOINCREMENT") for t in item[i:]):
                self.autoincrement.add(column.lower())
        elif (opening := _next_group(item, i)) is not None:
            closing = _closing(item, opening)
            # SQLite accepts PRIMARY KEY (id AUTOINCREMENT) as a table constraint too
            if any(t.is_word("AUTOINCREMENT") for t in item[opening:closing]):
                self.autoincrement.update(n.lower() for n in _names(item, opening)[:1])
            return closing + 1
        return i + 2

    def unique(self, definition: _Definition, i: int) -> int:
        name = definition.take_name()
        if definition.column is not None:
            self.uniques.append((name, (definition.column,)))
        elif (opening := _next_group(definition.item, i)) is not None:
            self.uniques.append((name, _names(definition.item, opening)))
            return _closing(definition.item, opening) + 1
        return i + 1

    def foreign_key(self, definition: _Definition, i: int) -> int:
        opening = _next_group(definition.item, i)
        if opening is None or definition.column is not None:
            return i + 1
        i = _closing(definition.item, opening) + 1
        if definition.word(i) != "REFERENCES":
            return i
        return self.references(definition, i, _names(definition.item, opening))

    def column_references(self, definition: _Definition, i: int) -> int:
        if definition.column is None:
            return i + 1
        return self.references(definition, i, (definition.column,))

    def references(self, definition: _Definition, i: int, columns: tuple[str, ...]) -> int:
        """Read REFERENCES table [(columns)] and its clauses; the index after them."""
        item = definition.item
        referred = item[i + 1].text if i + 1 < len(item) else ""
        i += 2
        if definition.group_at(i):
            i = _closing(item, i) + 1
        deferrable = None
        while word := definition.word(i):
            after = definition.word(i + 1)
            if word == "ON":  # ON DELETE|UPDATE action, where SET ... and NO ACTION are two
                i += 4 if definition.word(i + 2) in ("SET", "NO") else 3
            elif word == "MATCH":
                i += 2
            elif word == "NOT" and after == "DEFERRABLE":
                deferrable = None
                i += 2
            elif word == "DEFERRABLE":
                deferrable = "DEFERRABLE"
                i += 1
            elif word == "INITIALLY":
                if after == "DEFERRED" and deferrable is not None:
                    deferrable = "DEFERRABLE INITIALLY DEFERRED"
                i += 2
            else:
                break
        self.foreign_keys.append(
            ForeignKeyText(
                name=definition.take_name(),
                columns=columns,
                referred_table=referred,
                deferrable=deferrable,
            )
        )
        return i

    def collate(self, definition: _Definition, i: int) -> int:
        definition.take_name()
        if definition.column is not None and i + 1 < len(definition.item):
            definition.collation = definition.item[i + 1].text
        return i + 2

    def generated_as(self, definition: _Definition, i: int) -> int:
        definition.take_name()
        if definition.column is None or not definition.group_at(i + 1):
            return i + 1
        closing = _closing(definition.item, i + 1)
        definition.generated = _source(self.sql, definition.item[i + 2 : closing])
        return closing + 1

    def default(self, definition: _Definition, i: int) -> int:
        """Pass over a DEFAULT's value: a literal, a signed number, a word, or (expr)."""
        definition.take_name()
        item = definition.item
        i += 1
        if i < len(item) and item[i].kind == "op" and item[i].text in "+-":
            i += 1
        return _closing(item, i) + 1 if definition.group_at(i) else i + 1

    def not_null(self, definition: _Definition, i: int) -> int:
        definition.take_name()  # a NOT NULL constraint may be named too
        return i + 1


_HANDLERS: dict[str, Handler] = {
    "CONSTRAINT": _TableBuilder.constraint_name,
    "CHECK": _TableBuilder.check,
    "PRIMARY": _TableBuilder.primary_key,
    "UNIQUE": _TableBuilder.unique,
    "FOREIGN": _TableBuilder.foreign_key,
    "REFERENCES": _TableBuilder.column_references,
    "COLLATE": _TableBuilder.collate,
    "AS": _TableBuilder.generated_as,
    "DEFAULT": _TableBuilder.default,
    "NOT": _TableBuilder.not_null,
    "NULL": _TableBuilder.not_null,
}


def _next_group(item: list[_Token], i: int) -> int | None:
    """The index of the first "(" after `i` in `item`."""
    return next((j for j in range(i + 1, len(item)) if item[j].kind == "("), None)
