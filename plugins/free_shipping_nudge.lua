--[[
plugins/free_shipping_nudge.lua -- suggests the items that best close the
gap to free shipping.

When the cart's discounted subtotal (cart.discounted_cents) is below the
free-shipping threshold of this cart (ctx.shipping.threshold_cents), it
looks at the most popular catalog items (ctx.catalog.top, up to 50 per
category) of the cart's own categories, then of the `categories` param,
leaves out items already in the cart or already shown on this cart
(cart.shown_suggestions), and suggests up to `max` of them, best gap
closer first:
  1. items whose price reaches the threshold, cheapest first;
  2. then items below the gap, most expensive (closest to the gap) first.
Ties go to the cart's categories (sorted), then the `categories` param in
its order, then higher popularity, then sku ascending. The core already
says "add 7.40 more for free shipping" (free_shipping.missing_cents); the
suggestions only carry a reason: "adds 8.50: free shipping" for an item
that reaches the threshold, "adds 3.90 towards free shipping" otherwise.
Hook: on_quote. Nothing happens without a free-shipping rule for the
cart, at or above the threshold, or when the gap exceeds `max_gap_cents`.

The gap is the one this plugin sees: after bundles and after the
discounts of the plugins configured before it, not of those after it, so
list this plugin after the plugins that give discounts.

Params (defaults):
  max            at most this many suggestions (default 3; 0..50)
  categories     list of further categories to look in after the cart's
                 own, in order (default {})
  max_gap_cents  stay quiet when more than this is missing (default: no
                 limit)

Example (shop.lua):
  plugin "plugins/free_shipping_nudge.lua" { max = 3,
    categories = { "accessories", "mugs" } }
]]

local sort = table.sort

local rule = { name = "free_shipping_nudge" }

function rule.on_quote(cart, ctx)
  local p = ctx.params or {}
  local max = params.int(p, "max", 3, 0, 50)
  local max_gap = params.int(p, "max_gap_cents", 1 << 53, 0, 1 << 53)
  local extra = params.list(p, "categories", "categories") or {}
  local ship = ctx.shipping
  if ship == nil or max == 0 then return {} end
  local gap = ship.threshold_cents - cart.discounted_cents
  if gap <= 0 or gap > max_gap then return {} end

  -- categories to search, each once: the cart's (sorted), then the param's
  local cats, seen = {}, {}
  for _, list in ipairs({ cart:categories(), extra }) do
    for _, cat in ipairs(list) do
      if not seen[cat] then
        seen[cat] = true
        cats[#cats + 1] = cat
      end
    end
  end

  -- left out: the cart's skus and what the till showed (the first 100 go
  -- to ctx.catalog.top, its limit; the rest are filtered here)
  local exclude, skipped = {}, {}
  local function skip(sku)
    if not skipped[sku] then
      skipped[sku] = true
      if #exclude < 100 then exclude[#exclude + 1] = sku end
    end
  end
  for _, line in ipairs(cart.lines) do skip(line.sku) end
  for _, sku in ipairs(cart.shown_suggestions or {}) do skip(sku) end

  local cands = {}
  for rank, cat in ipairs(cats) do
    for _, item in ipairs(ctx.catalog.top(cat, 50, exclude)) do
      local price = item.price_cents
      if not skipped[item.sku] and math.type(price) == "integer" and price > 0 then
        skipped[item.sku] = true -- an item met in two categories counts once
        cands[#cands + 1] = { sku = item.sku, price = price, rank = rank,
                              pop = item.popularity or 0 }
      end
    end
  end

  sort(cands, function(a, b)
    local ac, bc = a.price >= gap, b.price >= gap
    if ac ~= bc then return ac end                          -- closers first
    if a.price ~= b.price then
      if ac then return a.price < b.price end               -- cheapest closer
      return a.price > b.price                              -- nearest below
    end
    if a.rank ~= b.rank then return a.rank < b.rank end
    if a.pop ~= b.pop then return a.pop > b.pop end
    return a.sku < b.sku
  end)

  local out = {}
  for i = 1, math.min(max, #cands) do
    local c = cands[i]
    local reason
    if c.price >= gap then
      reason = "adds " .. money.str(c.price) .. ": free shipping"
    else
      reason = "adds " .. money.str(c.price) .. " towards free shipping"
    end
    out[#out + 1] = suggest { sku = c.sku, reason = reason }
  end
  return out
end

return rule
