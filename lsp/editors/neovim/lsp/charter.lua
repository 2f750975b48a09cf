-- The Charter language server for Neovim 0.11+: with this folder on 'runtimepath',
-- `vim.lsp.enable("charter")` is all the configuration needed.
return {
  cmd = { "charter", "lsp" },
  filetypes = { "charter" },
  root_markers = { "charter.toml", ".git" },
}
