-- examples/shop/shop.lua -- the demo shop: an electronics and coffee store
-- in Helsinki. Apply it with `patron apply examples/shop/shop.lua`; every
-- key is described at the top of lua/config.lua.

shop {
  currency = "EUR",
  timezone = "Europe/Helsinki",
  prices_include_tax = true,                  -- shelf prices include VAT
  contact_cap = { max = 2, per_days = 7 },    -- marketing messages per customer
}

program "default" {
  earn = { points_per_unit = 1, on = "paid",  -- 1 point per whole euro paid
           pending_days = 14 },               -- spendable after the return window
  value = { points = 100, cents = 100 },      -- 100 points = 1.00 EUR
  redeem = { min_points = 500, max_share_bp = 5000 }, -- at most 50% of an order
  expiry = { months = 12 },
  tiers = { { name = "bronze", from_cents = 0, multiplier_bp = 10000 },
            { name = "silver", from_cents = 50000, multiplier_bp = 12500 },
            { name = "gold",   from_cents = 200000, multiplier_bp = 15000 } },
  tier_window = { months = 12 },              -- tier by spend in the last 12 months
}

program "coffee-club" {
  earn = { points_per_unit = 2 },             -- coffee lovers earn double
  value = { points = 100, cents = 50 },
  redeem = { min_points = 200, max_share_bp = 10000 },
  expiry = { months = 6, notice_days = 14 },
}

bundle "mp3-kit" { skus = { "MP3-01", "HP-07" }, off_bp = 1500 }
bundle "coffee-starter" { items = { { sku = "COF-01", qty = 2 }, { sku = "MUG-01", qty = 1 } },
                          price_cents = 2490 }
bundle "mug-pair" { skus = { "MUG-01", "MUG-01" }, off_bp = 1000 }

free_shipping { threshold_cents = 5000, shipping_cents = 499 }

-- Plugins (plugins/cross_sell.lua, plugins/double_points.lua, ...) will be
-- wired in here once they are written, for example:
--   plugin "plugins/cross_sell.lua" { max = 3 }

plan "pro-monthly" { price_cents = 1000, every = "month", trial_days = 14, program = "default" }
plan "pro-annual"  { price_cents = 10200, every = "year", program = "default",
                     twin = "pro-monthly" }   -- 15% below 12 x monthly

dunning { retry_days = { 1, 3, 5, 7 }, grace_days = 10, final = "suspend" }
