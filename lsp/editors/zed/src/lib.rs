//! The Zed extension for Charter: starts the language server, `charter lsp`.
//!
//! Highlighting, brackets, indents and the outline come from the Tree-sitter grammar and
//! the queries in `languages/charter/`; everything else comes from the server.

use zed_extension_api::{self as zed, settings::LspSettings, LanguageServerId, Result};

struct CharterExtension;

impl zed::Extension for CharterExtension {
    fn new() -> Self {
        CharterExtension
    }

    fn language_server_command(
        &mut self,
        language_server_id: &LanguageServerId,
        worktree: &zed::Worktree,
    ) -> Result<zed::Command> {
        // `"lsp": { "charter": { "binary": { "path": …, "arguments": … } } }` in Zed's
        // settings overrides the `charter` found on the shell's PATH.
        let binary = LspSettings::for_worktree(language_server_id.as_ref(), worktree)
            .ok()
            .and_then(|settings| settings.binary);
        let path = binary.as_ref().and_then(|b| b.path.clone());
        let command = match path.or_else(|| worktree.which("charter")) {
            Some(command) => command,
            None => {
                return Err(
                    "cannot find `charter` on PATH: install it with `cargo install \
                            --path cli` in the Charter repository, or set \
                            `lsp.charter.binary.path` in Zed's settings"
                        .to_string(),
                )
            }
        };
        let args = binary
            .as_ref()
            .and_then(|b| b.arguments.clone())
            .unwrap_or_else(|| vec!["lsp".to_string()]);
        let mut env = worktree.shell_env();
        if let Some(extra) = binary.and_then(|b| b.env) {
            env.extend(extra);
        }
        Ok(zed::Command { command, args, env })
    }
}

zed::register_extension!(CharterExtension);
