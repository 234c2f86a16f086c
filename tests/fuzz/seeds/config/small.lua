shop { currency = "EUR", timezone = "Europe/Helsinki", strict = true, abandoned_cart_hours = 48 }
local function tier(n, f, m) return { name = n, from_cents = f, multiplier_bp = m } end
program "default" {
  earn = { points_per_unit = 1, pending_days = 14 },
  value = { points = 100, cents = 100 },
  redeem = { min_points = 500, max_share_bp = 5000 },
  expiry = { months = 12, notice_days = 7 },
  tiers = { tier("bronze", 0, 10000), tier("silver", 50000, 12500) },
  tier_window = { months = 12 },
}
for i = 1, 3 do bundle("b" .. i) { skus = { "A" .. i, "B" .. i }, off_bp = 100 * i } end
bundle "fixed" { items = { { sku = "C", qty = 2 }, { sku = "D", qty = 1 } }, price_cents = 999 }
free_shipping { threshold_cents = 5000, shipping_cents = 499 }
free_shipping { threshold_cents = 0, shipping_cents = 0, region = "FI", program = "default" }
plan "m" { price_cents = 1000, every = "month", trial_days = 14, program = "default" }
plan "y" { price_cents = 10200, every = "year", twin = "m" }
dunning { retry_days = { 1, 3, 5 }, grace_days = 10, final = "cancel" }
