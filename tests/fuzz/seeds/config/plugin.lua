shop { currency = "EUR" }
program "p" {}
plugin "plugins/cross_sell.lua" { pairs = { { "mp3", "headphones" } }, max = 3,
  from = "2026-12-01", to = "2026-12-24", budget = { points = 500, uses = 10 },
  instructions = 100000, memory_kb = 1024 }
