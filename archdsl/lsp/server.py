"""The pygls wiring: LSP requests and notifications -> the analysis modules.

Documents are analysed once per version (`Documents`); diagnostics are published when a
document opens or is saved, and after each change once typing pauses (`DEBOUNCE_S`).
Positions are converted between the client's encoding (UTF-16 unless it asks for another)
and characters at this boundary, with the document's codec.
"""

from __future__ import annotations

import asyncio
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

from archdsl import __version__
from archdsl.lsp.analysis import Analysis, Documents

DEBOUNCE_S = 0.15
TRIGGERS = ["(", "=", '"', "/", ",", " "]


class ArchServer(LanguageServer):
    def __init__(self):
        super().__init__("archdsl", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.docs = Documents()
        self.parsed: dict[str, Analysis] = {}  # the last analysis of each document whose program parsed
        self.pending: dict[str, asyncio.TimerHandle] = {}

    def analysis(self, uri: str) -> tuple[Analysis, object]:
        doc = self.workspace.get_text_document(uri)
        a = self.docs.get(uri, doc.source, _file_of(uri, doc.path), doc.version)
        if a.program is not None:
            self.parsed[uri] = a
        return a, doc

    def publish(self, uri: str) -> None:
        from archdsl.lsp.diagnostics import diagnostics

        self.pending.pop(uri, None)
        a, doc = self.analysis(uri)
        diags = diagnostics(a)
        for d in diags:
            d.range = _to_client(doc, d.range)
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, version=doc.version, diagnostics=diags))


def _file_of(uri: str, path: str | None) -> str:
    if path:
        return path
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else "<untitled>"


def _to_client(doc, rng: types.Range) -> types.Range:
    return doc.range_to_client_units(ServerTextRange(ServerTextPosition(rng.start.line, rng.start.character),
                                                     ServerTextPosition(rng.end.line, rng.end.character)))


def _from_client(doc, pos: types.Position) -> tuple[int, int]:
    p = doc.position_from_client_units(pos)
    return p.line, p.character


server = ArchServer()


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: ArchServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.publish(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: ArchServer, params: types.DidChangeTextDocumentParams) -> None:
    uri = params.text_document.uri
    old = ls.pending.pop(uri, None)
    if old is not None:
        old.cancel()
    ls.pending[uri] = asyncio.get_running_loop().call_later(DEBOUNCE_S, ls.publish, uri)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: ArchServer, params: types.DidSaveTextDocumentParams) -> None:
    ls.publish(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: ArchServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    old = ls.pending.pop(uri, None)
    if old is not None:
        old.cancel()
    ls.docs.drop(uri)
    ls.parsed.pop(uri, None)
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: ArchServer, params: types.HoverParams) -> types.Hover | None:
    from archdsl.lsp.hover import hover_markdown
    from archdsl.lsp.positions import span_range

    a, doc = ls.analysis(params.text_document.uri)
    line, char = _from_client(doc, params.position)
    found = hover_markdown(a, line + 1, char + 1)
    if found is None:
        return None
    text, ref = found
    rng = span_range(_ref_span(a, ref), a.line_text(ref.line))
    return types.Hover(contents=types.MarkupContent(types.MarkupKind.Markdown, text), range=_to_client(doc, rng))


def _ref_span(a: Analysis, ref):
    from archdsl.errors import Span

    return Span(a.file, ref.line, ref.column, ref.length, a.line_text(ref.line))


@server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=TRIGGERS))
def completion(ls: ArchServer, params: types.CompletionParams) -> types.CompletionList:
    from archdsl.lsp.completion import complete

    a, doc = ls.analysis(params.text_document.uri)
    line, char = _from_client(doc, params.position)
    text = doc.lines[line].rstrip("\r\n") if line < len(doc.lines) else ""
    items = complete(a, ls.parsed.get(params.text_document.uri), line, text, char)
    for it in items:
        if it.text_edit is not None:
            it.text_edit.range = _to_client(doc, it.text_edit.range)
    return types.CompletionList(is_incomplete=False, items=items)


@server.feature(types.TEXT_DOCUMENT_DEFINITION)
def definition(ls: ArchServer, params: types.DefinitionParams) -> list[types.Location]:
    from archdsl.lsp.symbols import definition as find

    uri = params.text_document.uri
    a, doc = ls.analysis(uri)
    line, char = _from_client(doc, params.position)
    locations = find(a, uri, line + 1, char + 1)
    for loc in locations:
        if loc.uri == uri:
            loc.range = _to_client(doc, loc.range)
    return locations


@server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def document_symbol(ls: ArchServer, params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
    from archdsl.lsp.symbols import document_symbols

    a, doc = ls.analysis(params.text_document.uri)
    symbols = document_symbols(a)
    stack = list(symbols)
    while stack:
        s = stack.pop()
        s.range = _to_client(doc, s.range)
        s.selection_range = _to_client(doc, s.selection_range)
        stack += s.children or []
    return symbols


@server.feature(types.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: ArchServer, params: types.DocumentFormattingParams) -> list[types.TextEdit]:
    """`archdsl fmt` of the whole document; nothing when it does not parse (the
    diagnostics say why)."""
    from archdsl.errors import ArchError
    from archdsl.syntax.format import format_source

    a, doc = ls.analysis(params.text_document.uri)
    try:
        new = format_source(doc.source, a.file)
    except ArchError:
        return []
    if new == doc.source:
        return []
    end = types.Position(len(doc.lines), 0)
    return [types.TextEdit(types.Range(types.Position(0, 0), end), new)]


def serve() -> None:
    server.start_io()
