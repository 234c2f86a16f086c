--[[
plugins/cross_sell.lua -- suggests what goes with what is in the cart.

For each (trigger category -> target category) pair, in the order given,
whose trigger category is in the cart, it suggests the most popular items
of the target category (ctx.catalog.top), skipping items already in the
cart, items the till already showed on this cart (cart.shown_suggestions)
and items the customer declined within the last `quiet_days` days
(ctx.customer.declined: suggested on one of their orders in that time and
not bought since). Earlier pairs fill the suggestions first; an item is
suggested once even when two pairs lead to it. Only the 50 most popular
items of a target category are looked at (the limit of catalog.top).
Anonymous carts get suggestions too, without the declined check.
Hook: on_quote.

Params (defaults):
  pairs       list of { "trigger", "target" [, "reason"] } category pairs,
              in priority order; default {} (suggests nothing). The reason
              defaults to "goes with your <trigger>".
  max         at most this many suggestions per cart (default 3; 0..50)
  per_pair    at most this many from one pair (default: max; 0..50)
  quiet_days  do not suggest again an item declined within this many days
              (default 30; 0 = do not look at past declines)

Example (shop.lua):
  plugin "plugins/cross_sell.lua" {
    pairs = { { "mp3", "headphones" }, { "coffee", "mugs" } },
    max = 3, quiet_days = 30 }
]]

local fmt = string.format

local rule = { name = "cross_sell" }

-- The pairs param as an array of { trigger, target, reason }.
local function read_pairs(p)
  local out = {}
  local v = p.pairs
  if v == nil then return out end
  if not params.is_table(v) then
    error("param pairs must be a list of { trigger, target } pairs", 0)
  end
  for i, pair in ipairs(v) do
    local trigger, target, reason
    if params.is_table(pair) then trigger, target, reason = pair[1], pair[2], pair[3] end
    if type(trigger) ~= "string" or type(target) ~= "string"
       or (reason ~= nil and type(reason) ~= "string") then
      error(fmt("param pairs[%d] must be { \"trigger\", \"target\" [, \"reason\"] }", i), 0)
    end
    out[#out + 1] = { trigger, target, reason or ("goes with your " .. trigger) }
  end
  return out
end

function rule.on_quote(cart, ctx)
  local p = ctx.params or {}
  local max = params.int(p, "max", 3, 0, 50)
  local per_pair = params.int(p, "per_pair", max, 0, 50)
  local quiet_days = params.int(p, "quiet_days", 30, 0, 36500)
  local pairs_ = read_pairs(p)
  local customer = ctx.customer
  local check_declined = customer ~= nil and quiet_days > 0

  local in_cart = {}
  for _, cat in ipairs(cart:categories()) do in_cart[cat] = true end

  -- skipped: the cart's skus and what the till showed (the first 100 of
  -- them go to ctx.catalog.top, its limit; all are filtered here), then
  -- what is suggested or found declined
  local exclude, skipped = {}, {}
  for _, list in ipairs({ cart.lines, cart.shown_suggestions or {} }) do
    for _, v in ipairs(list) do
      local sku = type(v) == "string" and v or v.sku
      if not skipped[sku] then
        skipped[sku] = true
        if #exclude < 100 then exclude[#exclude + 1] = sku end
      end
    end
  end

  local out = {}
  for _, pair in ipairs(pairs_) do
    local trigger, target, reason = pair[1], pair[2], pair[3]
    local want = per_pair
    if want > max - #out then want = max - #out end
    if in_cart[trigger] and want > 0 then
      for _, item in ipairs(ctx.catalog.top(target, 50, exclude)) do
        if want == 0 then break end
        local sku = item.sku
        if not skipped[sku] then
          skipped[sku] = true
          if not (check_declined and customer.declined(sku, quiet_days)) then
            out[#out + 1] = suggest { sku = sku, reason = reason }
            want = want - 1
          end
        end
      end
    end
  end
  return out
end

return rule
