vim.filetype.add({ extension = { charter = "charter" } })
