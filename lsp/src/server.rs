//! The `LanguageServer` implementation: capability negotiation, and each request
//! turned into a feature call on a snapshot, off the async threads.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer};

use charter_compiler::diagnostics::FileId;

use crate::convert;
use crate::ide::completion::{self, CompletionKind as Kind};
use crate::ide::{fix, folding, format, hover, nav, symbols, tokens, FileSpan};
use crate::text::Encoding;
use crate::vfs;
use crate::world::{BundleView, Snapshot, Task, World};

/// The language server.
pub struct Backend {
    client: Client,
    tasks: Sender<Task>,
    shutdown: Arc<AtomicBool>,
    encoding: Mutex<Encoding>,
    dynamic_watch: AtomicBool,
}

/// LSP's "content modified": the text changed while the request was being answered.
fn content_modified() -> Error {
    Error {
        code: ErrorCode::ServerError(-32801),
        message: "content modified".into(),
        data: None,
    }
}

fn internal(msg: &str) -> Error {
    Error {
        code: ErrorCode::InternalError,
        message: msg.to_string().into(),
        data: None,
    }
}

impl Backend {
    /// A server talking to `client`; `shutdown` is set when the client asks to shut down.
    /// Must be called inside the Tokio runtime, whose handle publishes diagnostics.
    pub fn new(client: Client, shutdown: Arc<AtomicBool>) -> Self {
        Backend {
            tasks: World::start(client.clone(), tokio::runtime::Handle::current()),
            client,
            shutdown,
            encoding: Mutex::new(Encoding::Utf16),
            dynamic_watch: AtomicBool::new(false),
        }
    }

    /// Sends a task to the world thread. Synchronous on purpose: handlers call it
    /// before their first `.await`, so tasks keep the order of the messages.
    fn send(&self, task: Task) {
        if self.tasks.send(task).is_err() {
            eprintln!("charter lsp: the state thread has stopped");
        }
    }

    /// Runs `f` on a fresh snapshot on a blocking thread. A newer edit cancels it
    /// (salsa unwinds with `Cancelled`), which answers "content modified".
    async fn with_snapshot<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Snapshot) -> T + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Task::Snapshot(tx));
        let snap = rx
            .await
            .map_err(|_| internal("the state thread has stopped"))?;
        let joined = tokio::task::spawn_blocking(move || {
            salsa::Cancelled::catch(AssertUnwindSafe(|| f(&snap)))
        })
        .await;
        match joined {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_cancelled)) => Err(content_modified()),
            Err(_) => Err(internal("the request failed")),
        }
    }

    /// Like [`Backend::with_snapshot`] for a request on one document: finds its bundle
    /// and file and converts the position to a byte offset.
    async fn at_position<T: Send + 'static>(
        &self,
        uri: &Uri,
        pos: Position,
        f: impl FnOnce(&Snapshot, &BundleView, FileId, u32) -> Option<T> + Send + 'static,
    ) -> Result<Option<T>> {
        let Some(path) = vfs::path_of(uri) else {
            return Ok(None);
        };
        self.with_snapshot(move |snap| {
            let (b, file) = snap.locate(&path)?;
            // charter.toml is TOML: it gets diagnostics, not Charter's editor features.
            if file == FileId::MANIFEST {
                return None;
            }
            let offset = snap.line_map(b, file).offset(pos);
            f(snap, b, file, offset as u32)
        })
        .await
    }
}

fn text_document_sync() -> TextDocumentSyncCapability {
    TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
        open_close: Some(true),
        change: Some(TextDocumentSyncKind::INCREMENTAL),
        will_save: None,
        will_save_wait_until: None,
        save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
            include_text: Some(false),
        })),
    })
}

fn semantic_legend() -> SemanticTokensLegend {
    SemanticTokensLegend {
        token_types: tokens::TOKEN_TYPES
            .iter()
            .map(|t| SemanticTokenType::new(t))
            .collect(),
        token_modifiers: tokens::TOKEN_MODIFIERS
            .iter()
            .map(|m| SemanticTokenModifier::new(m))
            .collect(),
    }
}

fn roots_of(params: &InitializeParams) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = params
        .workspace_folders
        .iter()
        .flatten()
        .filter_map(|f| vfs::path_of(&f.uri))
        .collect();
    #[allow(deprecated)]
    if roots.is_empty() {
        if let Some(p) = params.root_uri.as_ref().and_then(vfs::path_of) {
            roots.push(p);
        }
    }
    roots
}

fn completion_kind(k: Kind) -> CompletionItemKind {
    use charter_compiler::sema::model::Ns;
    match k {
        Kind::Keyword => CompletionItemKind::KEYWORD,
        Kind::Builtin => CompletionItemKind::VARIABLE,
        Kind::Name(ns) => match ns {
            Ns::Dataset => CompletionItemKind::MODULE,
            Ns::Field | Ns::Fact => CompletionItemKind::FIELD,
            Ns::Grade => CompletionItemKind::ENUM_MEMBER,
            Ns::Action | Ns::Measure => CompletionItemKind::FUNCTION,
            Ns::Scenario => CompletionItemKind::CLASS,
            Ns::Domain => CompletionItemKind::ENUM,
            Ns::Rule => CompletionItemKind::EVENT,
            _ => CompletionItemKind::TEXT,
        },
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let utf8_offered = params
            .capabilities
            .general
            .as_ref()
            .and_then(|g| g.position_encodings.as_ref())
            .is_some_and(|encs| encs.contains(&PositionEncodingKind::UTF8));
        let encoding = if utf8_offered {
            Encoding::Utf8
        } else {
            Encoding::Utf16
        };
        if let Ok(mut e) = self.encoding.lock() {
            *e = encoding;
        }
        let dynamic_watch = params
            .capabilities
            .workspace
            .as_ref()
            .and_then(|w| w.did_change_watched_files.as_ref())
            .and_then(|d| d.dynamic_registration)
            .unwrap_or(false);
        self.dynamic_watch.store(dynamic_watch, Ordering::SeqCst);
        self.send(Task::Init {
            roots: roots_of(&params),
            encoding,
            watch: !dynamic_watch,
        });
        Ok(InitializeResult {
            server_info: Some(ServerInfo {
                name: String::from("charter"),
                version: Some(env!("CARGO_PKG_VERSION").to_string()),
            }),
            capabilities: ServerCapabilities {
                position_encoding: Some(match encoding {
                    Encoding::Utf8 => PositionEncodingKind::UTF8,
                    Encoding::Utf16 => PositionEncodingKind::UTF16,
                }),
                text_document_sync: Some(text_document_sync()),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                completion_provider: Some(CompletionOptions {
                    trigger_characters: Some(vec![".".into(), "{".into(), ",".into()]),
                    ..Default::default()
                }),
                definition_provider: Some(OneOf::Left(true)),
                references_provider: Some(OneOf::Left(true)),
                document_symbol_provider: Some(OneOf::Left(true)),
                workspace_symbol_provider: Some(OneOf::Left(true)),
                rename_provider: Some(OneOf::Right(RenameOptions {
                    prepare_provider: Some(true),
                    work_done_progress_options: Default::default(),
                })),
                semantic_tokens_provider: Some(
                    SemanticTokensServerCapabilities::SemanticTokensOptions(
                        SemanticTokensOptions {
                            legend: semantic_legend(),
                            full: Some(SemanticTokensFullOptions::Bool(true)),
                            range: None,
                            work_done_progress_options: Default::default(),
                        },
                    ),
                ),
                folding_range_provider: Some(FoldingRangeProviderCapability::Simple(true)),
                document_formatting_provider: Some(OneOf::Left(true)),
                code_action_provider: Some(CodeActionProviderCapability::Options(
                    CodeActionOptions {
                        code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
                        ..Default::default()
                    },
                )),
                ..Default::default()
            },
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        if !self.dynamic_watch.load(Ordering::SeqCst) {
            return;
        }
        let watchers = ["**/*.charter", "**/charter.toml"]
            .iter()
            .map(|g| FileSystemWatcher {
                glob_pattern: GlobPattern::String(g.to_string()),
                kind: None,
            })
            .collect();
        let options = DidChangeWatchedFilesRegistrationOptions { watchers };
        let registration = Registration {
            id: String::from("charter-watched-files"),
            method: String::from("workspace/didChangeWatchedFiles"),
            register_options: serde_json::to_value(options).ok(),
        };
        if let Err(e) = self.client.register_capability(vec![registration]).await {
            self.client
                .log_message(MessageType::WARNING, format!("cannot watch files: {e}"))
                .await;
        }
    }

    async fn shutdown(&self) -> Result<()> {
        self.shutdown.store(true, Ordering::SeqCst);
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let doc = params.text_document;
        if let Some(path) = vfs::path_of(&doc.uri) {
            self.send(Task::Open {
                path,
                version: doc.version,
                text: doc.text,
            });
        }
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        if let Some(path) = vfs::path_of(&params.text_document.uri) {
            self.send(Task::Change {
                path,
                version: params.text_document.version,
                changes: params.content_changes,
            });
        }
    }

    async fn did_save(&self, _: DidSaveTextDocumentParams) {
        // The text is already current through didChange; the disk copy only matters
        // once the document closes, and then it is read.
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        if let Some(path) = vfs::path_of(&params.text_document.uri) {
            self.send(Task::Close { path });
        }
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        let paths: Vec<PathBuf> = params
            .changes
            .iter()
            .filter_map(|c| vfs::path_of(&c.uri))
            .collect();
        if !paths.is_empty() {
            self.send(Task::Disk { paths });
        }
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let p = params.text_document_position_params;
        self.at_position(&p.text_document.uri, p.position, |snap, b, file, offset| {
            let h = hover::hover(&b.analysis, file, offset)?;
            Some(Hover {
                contents: HoverContents::Markup(MarkupContent {
                    kind: MarkupKind::Markdown,
                    value: h.markdown,
                }),
                range: Some(snap.line_map(b, h.at.file).range(h.at.span)),
            })
        })
        .await
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        let p = params.text_document_position;
        self.at_position(&p.text_document.uri, p.position, |snap, b, file, offset| {
            let map = snap.line_map(b, file);
            let items: Vec<CompletionItem> = completion::complete(&b.analysis, file, offset)
                .into_iter()
                .map(|c| CompletionItem {
                    label: c.label.clone(),
                    kind: Some(completion_kind(c.kind)),
                    // A blocked item says why in its detail and is struck through.
                    detail: c.blocked.clone().or_else(|| c.detail.clone()),
                    tags: c
                        .blocked
                        .is_some()
                        .then(|| vec![CompletionItemTag::DEPRECATED]),
                    label_details: c.detail.as_ref().map(|d| CompletionItemLabelDetails {
                        detail: None,
                        description: Some(d.clone()),
                    }),
                    documentation: c.doc.map(|d| {
                        Documentation::MarkupContent(MarkupContent {
                            kind: MarkupKind::Markdown,
                            value: d,
                        })
                    }),
                    sort_text: Some(format!(
                        "{}{}",
                        if c.blocked.is_some() {
                            2
                        } else if c.kind == Kind::Keyword {
                            1
                        } else {
                            0
                        },
                        c.label
                    )),
                    filter_text: Some(c.label.clone()),
                    text_edit: Some(CompletionTextEdit::Edit(TextEdit {
                        range: map.range(c.replace),
                        new_text: c.label,
                    })),
                    ..Default::default()
                })
                .collect();
            Some(CompletionResponse::Array(items))
        })
        .await
    }

    async fn goto_definition(
        &self,
        params: GotoDefinitionParams,
    ) -> Result<Option<GotoDefinitionResponse>> {
        let p = params.text_document_position_params;
        self.at_position(&p.text_document.uri, p.position, |snap, b, file, offset| {
            let (origin, target) = nav::definition(&b.analysis, file, offset)?;
            let target_uri = snap.uri(b, target.file)?;
            Some(GotoDefinitionResponse::Link(vec![LocationLink {
                origin_selection_range: Some(snap.line_map(b, origin.file).range(origin.span)),
                target_uri,
                target_range: snap.line_map(b, target.file).range(target.span),
                target_selection_range: snap.line_map(b, target.file).range(target.span),
            }]))
        })
        .await
    }

    async fn references(&self, params: ReferenceParams) -> Result<Option<Vec<Location>>> {
        let p = params.text_document_position;
        let include = params.context.include_declaration;
        self.at_position(
            &p.text_document.uri,
            p.position,
            move |snap, b, file, offset| {
                let refs = nav::references(&b.analysis, file, offset, include);
                Some(
                    refs.into_iter()
                        .filter_map(|r| convert::location(snap, b, r))
                        .collect(),
                )
            },
        )
        .await
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> Result<Option<DocumentSymbolResponse>> {
        let Some(path) = vfs::path_of(&params.text_document.uri) else {
            return Ok(None);
        };
        self.with_snapshot(move |snap| {
            let (b, file) = snap.locate(&path).filter(|(_, f)| *f != FileId::MANIFEST)?;
            let map = snap.line_map(b, file);
            #[allow(deprecated)]
            fn convert_entry(
                map: &crate::text::LineMap<'_>,
                e: symbols::OutlineEntry,
            ) -> DocumentSymbol {
                DocumentSymbol {
                    name: if e.name.is_empty() {
                        String::from("_")
                    } else {
                        e.name
                    },
                    detail: e.detail,
                    kind: convert::symbol_kind(e.kind),
                    tags: None,
                    deprecated: None,
                    range: map.range(e.span),
                    selection_range: map.range(e.selection),
                    children: Some(
                        e.children
                            .into_iter()
                            .map(|c| convert_entry(map, c))
                            .collect(),
                    ),
                }
            }
            let out: Vec<DocumentSymbol> = symbols::outline(&b.analysis, file)
                .into_iter()
                .map(|e| convert_entry(&map, e))
                .collect();
            Some(DocumentSymbolResponse::Nested(out))
        })
        .await
    }

    async fn symbol(
        &self,
        params: WorkspaceSymbolParams,
    ) -> Result<Option<WorkspaceSymbolResponse>> {
        let query = params.query;
        self.with_snapshot(move |snap| {
            let mut out: Vec<WorkspaceSymbol> = Vec::new();
            let mut seen_prelude = false;
            for b in &snap.bundles {
                for s in symbols::workspace_symbols(&b.analysis, &query, 500) {
                    // Every bundle has the prelude; list its names once.
                    if s.at.file == FileId::PRELUDE && seen_prelude {
                        continue;
                    }
                    let Some(location) = convert::location(snap, b, s.at) else {
                        continue;
                    };
                    out.push(WorkspaceSymbol {
                        name: s.name,
                        kind: convert::symbol_kind(s.kind),
                        tags: None,
                        container_name: s.container,
                        location: OneOf::Left(location),
                        data: None,
                    });
                }
                seen_prelude = true;
            }
            Some(WorkspaceSymbolResponse::Nested(out))
        })
        .await
    }

    async fn prepare_rename(
        &self,
        params: TextDocumentPositionParams,
    ) -> Result<Option<PrepareRenameResponse>> {
        let Some(path) = vfs::path_of(&params.text_document.uri) else {
            return Ok(None);
        };
        let pos = params.position;
        let result = self
            .with_snapshot(move |snap| {
                let (b, file) = snap
                    .locate(&path)
                    .ok_or_else(|| String::from("not in a bundle"))?;
                let map = snap.line_map(b, file);
                let offset = map.offset(pos) as u32;
                nav::prepare_rename(&b.analysis, file, offset)
                    .map(|(span, text)| PrepareRenameResponse::RangeWithPlaceholder {
                        range: map.range(span),
                        placeholder: text,
                    })
                    .map_err(|e| e.0)
            })
            .await?;
        result.map(Some).map_err(Error::invalid_params)
    }

    async fn rename(&self, params: RenameParams) -> Result<Option<WorkspaceEdit>> {
        let p = params.text_document_position;
        let Some(path) = vfs::path_of(&p.text_document.uri) else {
            return Ok(None);
        };
        let new_name = params.new_name;
        let result = self
            .with_snapshot(move |snap| {
                let (b, file) = snap
                    .locate(&path)
                    .ok_or_else(|| String::from("not in a bundle"))?;
                let offset = snap.line_map(b, file).offset(p.position) as u32;
                let edits = nav::rename(&b.analysis, file, offset, &new_name).map_err(|e| e.0)?;
                Ok::<_, String>(workspace_edit(snap, b, edits))
            })
            .await?;
        result.map(Some).map_err(Error::invalid_params)
    }

    async fn semantic_tokens_full(
        &self,
        params: SemanticTokensParams,
    ) -> Result<Option<SemanticTokensResult>> {
        let Some(path) = vfs::path_of(&params.text_document.uri) else {
            return Ok(None);
        };
        self.with_snapshot(move |snap| {
            let (b, file) = snap.locate(&path).filter(|(_, f)| *f != FileId::MANIFEST)?;
            let toks = tokens::semantic_tokens(&b.analysis, file);
            let data = convert::semantic_tokens(&snap.line_map(b, file), &toks);
            Some(SemanticTokensResult::Tokens(SemanticTokens {
                result_id: None,
                data,
            }))
        })
        .await
    }

    async fn folding_range(&self, params: FoldingRangeParams) -> Result<Option<Vec<FoldingRange>>> {
        let Some(path) = vfs::path_of(&params.text_document.uri) else {
            return Ok(None);
        };
        self.with_snapshot(move |snap| {
            let (b, file) = snap.locate(&path).filter(|(_, f)| *f != FileId::MANIFEST)?;
            let map = snap.line_map(b, file);
            let out = folding::folds(&b.analysis, file)
                .into_iter()
                .map(|f| {
                    let r = map.range(f.span);
                    FoldingRange {
                        start_line: r.start.line,
                        start_character: None,
                        end_line: r.end.line,
                        end_character: None,
                        kind: Some(match f.kind {
                            folding::FoldKind::Region => FoldingRangeKind::Region,
                            folding::FoldKind::Comment => FoldingRangeKind::Comment,
                        }),
                        collapsed_text: None,
                    }
                })
                .collect();
            Some(out)
        })
        .await
    }

    async fn formatting(&self, params: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        let Some(path) = vfs::path_of(&params.text_document.uri) else {
            return Ok(None);
        };
        self.with_snapshot(move |snap| {
            let (b, file) = snap.locate(&path)?;
            let (span, new_text) = format::format(&b.analysis, file)?;
            let range = snap.line_map(b, file).range(span);
            Some(vec![TextEdit { range, new_text }])
        })
        .await
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let Some(path) = vfs::path_of(&params.text_document.uri) else {
            return Ok(None);
        };
        let range = params.range;
        self.with_snapshot(move |snap| {
            let (b, file) = snap.locate(&path).filter(|(_, f)| *f != FileId::MANIFEST)?;
            let map = snap.line_map(b, file);
            let span = map.span(range);
            let out: Vec<CodeActionOrCommand> = fix::actions(&b.analysis, file, span)
                .into_iter()
                .map(|a| {
                    let diag =
                        convert::diagnostics(snap, b, file, std::slice::from_ref(&a.diagnostic));
                    CodeActionOrCommand::CodeAction(CodeAction {
                        title: a.title,
                        kind: Some(CodeActionKind::QUICKFIX),
                        diagnostics: Some(diag),
                        edit: Some(workspace_edit(snap, b, a.edits)),
                        command: None,
                        is_preferred: Some(a.preferred),
                        disabled: None,
                        data: None,
                    })
                })
                .collect();
            Some(out)
        })
        .await
    }
}

/// Edits by byte span, grouped by file into a workspace edit.
fn workspace_edit(
    snap: &Snapshot,
    b: &BundleView,
    edits: Vec<(FileSpan, String)>,
) -> WorkspaceEdit {
    let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
    for (at, new_text) in edits {
        let Some(uri) = snap.uri(b, at.file) else {
            continue;
        };
        let range = snap.line_map(b, at.file).range(at.span);
        changes
            .entry(uri)
            .or_default()
            .push(TextEdit { range, new_text });
    }
    WorkspaceEdit {
        changes: Some(changes),
        document_changes: None,
        change_annotations: None,
    }
}
