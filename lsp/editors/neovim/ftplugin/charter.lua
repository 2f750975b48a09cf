-- Charter buffers (Neovim 0.10+): `//` comments, two-space indents, and Tree-sitter
-- highlighting and folds once the parser is built (build-parser.sh beside this folder).
vim.bo.commentstring = "// %s"
vim.bo.comments = ":///,://"
vim.bo.shiftwidth = 2
vim.bo.softtabstop = 2
vim.bo.expandtab = true

if pcall(vim.treesitter.start) then
  vim.wo[0][0].foldmethod = "expr"
  vim.wo[0][0].foldexpr = "v:lua.vim.treesitter.foldexpr()"
  vim.wo[0][0].foldlevel = 99
end

vim.b.undo_ftplugin = "setl commentstring< comments< shiftwidth< softtabstop< expandtab<"
