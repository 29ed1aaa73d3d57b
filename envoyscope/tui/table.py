"""A summary table that stays fast at 27,000 rows: only the lines on screen are drawn.

Textual's DataTable builds a renderable per cell when rows are added (about 0.9 s for 9,000 rows here), so the
filter box could not re-render as you type. `SummaryTable` keeps the `Table` the engine computed, an index list of
the rows that pass the filter in the chosen sort order, and draws lines on demand (the Line API of a ScrollView),
as toolong draws its log lines.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from envoyscope.engine.summary import Row, Table

MAX_WIDTH = 60  # a column wider than this is cut with … (Enter shows the whole resource)
GAP = 2  # spaces between columns, as istioctl's tabwriter pads
MIN_GROW = 16  # a growing column (see SummaryTable) is never cut narrower than this
_NUMBER = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort `9080` before `15001` and `v2` before `v10`."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in _NUMBER.split(text))


class RowMessage(Message):
    """A message about one row of a `SummaryTable`."""

    def __init__(self, table: SummaryTable, row: Row) -> None:
        super().__init__()
        self.table, self.row = table, row

    @property
    def control(self) -> SummaryTable:
        return self.table


class SummaryTable(ScrollView, can_focus=True):
    """Rows of a summary; ``/`` filters (through `set_filter`), a header click or ``s`` sorts, Enter opens."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False), Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False), Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False), Binding("end", "jump(-1)", "Last", show=False),
        Binding("left,h", "scroll_left", "Left", show=False), Binding("right,l", "scroll_right", "Right", show=False),
        Binding("enter", "select", "Open", show=True), Binding("s", "sort_next", "Sort", show=True),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"summary-table--header", "summary-table--cursor",
                                             "summary-table--sorted"}
    DEFAULT_CSS = """
    SummaryTable { height: 1fr; }
    SummaryTable > .summary-table--header { text-style: bold; background: $panel; color: $text; }
    SummaryTable > .summary-table--sorted { text-style: bold underline; background: $panel; color: $accent; }
    SummaryTable > .summary-table--cursor { background: $block-cursor-blurred-background; }
    SummaryTable:focus > .summary-table--cursor { background: $block-cursor-background;
                                                  color: $block-cursor-foreground; text-style: bold; }
    """

    cursor: reactive[int] = reactive(0, repaint=True)

    class RowSelected(RowMessage):
        """Enter (or a double click) on a row: ``row`` is the engine's `Row`."""

    class Highlighted(RowMessage):
        """The cursor moved to another row."""

    def __init__(self, *, id: str | None = None, max_width: int = MAX_WIDTH,  # noqa: A002 (Textual's name)
                 grow: int | None = None) -> None:
        super().__init__(id=id)
        self.max_width = max_width
        # A column that is never cut to max_width: it takes the room the others leave (the proxy names), is cut only
        # where the widget is too narrow, and the row under the cursor shows it in full.
        self.grow = grow
        self.table: Table | None = None
        self.widths: list[int] = []
        self.order: list[int] = []  # every row index, in the sort order
        self.shown_rows: list[int] = []  # the rows that pass the filter, in the sort order
        self.needle = ""
        self.sort_column: int | None = None
        self.sort_reverse = False
        self._hay: list[str] = []

    # --- content ---
    def set_table(self, table: Table | None, needle: str = "") -> None:
        """Show a new table (keeping the sort column when it has the same columns) and apply the filter."""
        same_columns = self.table is not None and table is not None and self.table.columns == table.columns
        self.table = table
        rows = table.rows if table else ()
        columns = table.columns if table else ()
        natural = [max([cell_len(c)] + [cell_len(r.cells[i]) for r in rows if i < len(r.cells)])
                   for i, c in enumerate(columns)]
        self.widths = [w if i == self.grow else min(self.max_width, w) for i, w in enumerate(natural)]
        self._hay = ["\t".join(row.cells).lower() for row in rows]
        self.order = list(range(len(rows)))
        if same_columns and self.sort_column is not None:
            self._sort()
        else:
            self.sort_column, self.sort_reverse = None, False
        self.needle = ""
        self.set_filter(needle, force=True)

    def set_filter(self, needle: str, *, force: bool = False) -> None:
        """Keep the rows whose cells contain ``needle`` (case-insensitive), in the current order."""
        needle = needle.lower()
        if needle == self.needle and not force:
            return
        current = self.current_index()
        self.needle = needle
        hay = self._hay
        self.shown_rows = [i for i in self.order if needle in hay[i]] if needle else list(self.order)
        self.cursor = self.shown_rows.index(current) if current in self.shown_rows else 0
        self._resize()

    def sort_by(self, column: int) -> None:
        """Sort by a column (natural order: ports as numbers); the same column again reverses it."""
        if self.table is None or not 0 <= column < len(self.table.columns):
            return
        self.sort_reverse = not self.sort_reverse if self.sort_column == column else False
        self.sort_column = column
        current = self.current_index()
        self._sort()
        self.shown_rows = [i for i in self.order if self.needle in self._hay[i]] if self.needle else list(self.order)
        self.cursor = self.shown_rows.index(current) if current in self.shown_rows else 0
        self.refresh()

    def _sort(self) -> None:
        assert self.table is not None and self.sort_column is not None
        rows, column = self.table.rows, self.sort_column
        self.order.sort(key=lambda i: natural_key(rows[i].cells[column] if column < len(rows[i].cells) else ""),
                        reverse=self.sort_reverse)

    def fitted_widths(self) -> list[int]:
        """The column widths as drawn: the growing column cut to what the widget's width leaves it (never below
        MIN_GROW), the others as measured."""
        widths = list(self.widths)
        if self.grow is None or not 0 <= self.grow < len(widths) or not self.size.width:
            return widths
        room = self.size.width - (sum(widths) - widths[self.grow]) - GAP * (len(widths) - 1) - 2
        widths[self.grow] = min(widths[self.grow], max(room, MIN_GROW))
        return widths

    def on_resize(self) -> None:
        if self.grow is not None:
            self._resize()

    def _resize(self) -> None:
        widths = self.fitted_widths()
        width = sum(widths) + GAP * max(0, len(widths) - 1) + 2
        self.virtual_size = Size(width, len(self.shown_rows) + 1)
        self.refresh()
        self._keep_cursor_visible()

    @property
    def row_count(self) -> int:
        return len(self.shown_rows)

    def current_index(self) -> int | None:
        """The index (in the engine's `Table.rows`) of the row under the cursor."""
        return self.shown_rows[self.cursor] if 0 <= self.cursor < len(self.shown_rows) else None

    def current_row(self) -> Row | None:
        index = self.current_index()
        return self.table.rows[index] if self.table is not None and index is not None else None

    def cells_at(self, position: int) -> tuple[str, ...]:
        """The cells of the row shown at ``position`` (0 is the first row under the header)."""
        assert self.table is not None
        return self.table.rows[self.shown_rows[position]].cells

    def move_to_ref(self, ref: tuple[str, str], prefer: tuple[str, ...] = ()) -> bool:
        """Put the cursor on the row that shows resource ``ref`` — of those, the first with the most cells equal to a
        string of ``prefer`` (e.g. the virtual host's name) — clearing the filter if it hides it."""
        if self.table is None:
            return False
        matching = [i for i, row in enumerate(self.table.rows) if row.ref == ref]
        if not matching:
            return False
        rows = self.table.rows
        best = max(matching, key=lambda i: sum(1 for p in prefer if p in rows[i].cells))  # the first of the best
        if best not in self.shown_rows:
            self.set_filter("", force=True)
        self.cursor = self.shown_rows.index(best)
        self._keep_cursor_visible()
        return True

    # --- drawing ---
    def line_text(self, position: int) -> str:
        """The row shown at ``position`` as drawn (the growing column in full on the cursor's row)."""
        return self._line_text(self.cells_at(position), full=position == self.cursor)

    def _line_text(self, cells: tuple[str, ...], full: bool = False) -> str:
        parts = []
        for index, (width, cell) in enumerate(zip(self.fitted_widths(), cells, strict=False)):
            whole = (full and index == self.grow) or cell_len(cell) <= width
            text = cell if whole else cell[: width - 1] + "…"
            parts.append(text + " " * max(0, width - cell_len(text)))
        return " " + (" " * GAP).join(parts)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        if self.table is None:
            return Strip.blank(width, base)
        if y == 0:
            return self._header(scroll_x, width)
        position = scroll_y + y - 1
        if position >= len(self.shown_rows):
            return Strip.blank(width, base)
        style = base
        if position == self.cursor:
            style = base + self.get_component_rich_style("summary-table--cursor")
        text = self.line_text(position)
        return Strip([Segment(text, style)]).crop(scroll_x, scroll_x + width).extend_cell_length(width, style)

    def _header(self, scroll_x: int, width: int) -> Strip:
        assert self.table is not None
        header = self.get_component_rich_style("summary-table--header")
        sorted_style = self.get_component_rich_style("summary-table--sorted")
        segments = [Segment(" ", header)]
        for index, (column, col_width) in enumerate(zip(self.table.columns, self.fitted_widths(), strict=False)):
            arrow = ("▼" if self.sort_reverse else "▲") if index == self.sort_column else ""
            label = (column + arrow)[: max(col_width, cell_len(column))]
            style: Style = sorted_style if index == self.sort_column else header
            segments.append(Segment(label.ljust(col_width), style))
            segments.append(Segment(" " * GAP, header))
        return Strip(segments).crop(scroll_x, scroll_x + width).extend_cell_length(width, header)

    def watch_cursor(self) -> None:
        self._keep_cursor_visible()
        row = self.current_row()
        if row is not None:
            self.post_message(self.Highlighted(self, row))

    def _keep_cursor_visible(self) -> None:
        rows_on_screen = max(1, self.size.height - 1)
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + rows_on_screen:
            self.scroll_to(y=self.cursor - rows_on_screen + 1, animate=False)

    # --- keys and mouse ---
    def action_cursor(self, delta: int) -> None:
        if self.shown_rows:
            self.cursor = max(0, min(len(self.shown_rows) - 1, self.cursor + delta))

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.size.height - 2))

    def action_jump(self, where: int) -> None:
        if self.shown_rows:
            self.cursor = where if where >= 0 else len(self.shown_rows) - 1

    def action_select(self) -> None:
        row = self.current_row()
        if row is not None:
            self.post_message(self.RowSelected(self, row))

    def action_sort_next(self) -> None:
        if self.table is not None and self.table.columns:
            if self.sort_column is not None and not self.sort_reverse:
                self.sort_by(self.sort_column)  # same column: reverse
            else:
                following = 0 if self.sort_column is None else (self.sort_column + 1) % len(self.table.columns)
                self.sort_by(following)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or self.table is None:
            return
        if offset.y == 0:
            x = offset.x + int(self.scroll_x) - 1
            for index, width in enumerate(self.fitted_widths()):
                if x < width + GAP:
                    self.sort_by(index)
                    return
                x -= width + GAP
            return
        position = int(self.scroll_y) + offset.y - 1
        if position < len(self.shown_rows):
            if position == self.cursor and event.chain >= 2:
                self.action_select()
            self.cursor = position
