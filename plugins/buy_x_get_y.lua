--[[
plugins/buy_x_get_y.lua -- buy X, get Y free (or at a discount).

For every `x` units bought from the set `buy`, `y` units from the set `get`
are free (or `off_bp` basis points off). It repeats as often as the cart
allows: with the same set for both, 7 qualifying units at x = 2, y = 1
give 2 free units (two groups of 3; the 7th unit pays). The free units are
the cheapest units of the `get` set (unit_cents ascending, then sku), and
they never count towards the `x` units bought. Each discounted unit is
floored on its own, floor(unit_cents * off_bp / 10000), and the units of
one sku become one `discount { cents, skus = { sku } }` action, cut to
what is left of that sku's lines after bundles (net_cents). Hook: on_quote.

Params (defaults):
  buy     required: { skus = { ... } } and/or { categories = { ... } };
          a line qualifies when its sku or its category is listed
  get     the same shape (default: the `buy` set)
  x       units to buy per group (default 2; 1..1000000)
  y       units given per group (default 1; 1..1000000)
  off_bp  basis points off each given unit (default 10000 = free; 1..10000)
  reason  text of the discounts (default "buy 2 get 1 free", or
          "buy 2 get 1 at 50% off")

Example (shop.lua):
  plugin "plugins/buy_x_get_y.lua" { buy = { categories = { "coffee" } },
    x = 2, y = 1 }
]]

local fmt, sort = string.format, table.sort

local rule = { name = "buy_x_get_y" }

-- A set param { skus = {...}, categories = {...} } as a predicate on lines.
local function set_param(p, key)
  local v = p[key]
  if not params.is_table(v) then
    error(fmt("param %s must be { skus = { ... } } or { categories = { ... } }", key), 0)
  end
  local skus, cats, n = {}, {}, 0
  for _, field in ipairs({ "skus", "categories" }) do
    local list = v[field]
    if list ~= nil then
      if not params.is_table(list) then
        error(fmt("param %s.%s must be a list", key, field), 0)
      end
      local into = field == "skus" and skus or cats
      for i, s in ipairs(list) do
        if type(s) ~= "string" then
          error(fmt("param %s.%s[%d] must be text", key, field, i), 0)
        end
        into[s] = true
        n = n + 1
      end
    end
  end
  if n == 0 then
    error(fmt("param %s names no sku and no category", key), 0)
  end
  return function(line) return skus[line.sku] or cats[line.category] or false end
end

function rule.on_quote(cart, ctx)
  local p = ctx.params or {}
  local x = params.int(p, "x", 2, 1, 1000000)
  local y = params.int(p, "y", 1, 1, 1000000)
  local off_bp = params.int(p, "off_bp", 10000, 1, 10000)
  local in_buy = set_param(p, "buy")
  local in_get = p.get == nil and in_buy or set_param(p, "get")
  local reason = params.text(p, "reason") or fmt("buy %d get %d ", x, y) ..
    (off_bp == 10000 and "free" or "at " .. money.pct(off_bp) .. " off")

  local buy_units, get_units = 0, 0
  local gets, left = {}, {}  -- get-eligible lines; net cents per sku
  for i, line in ipairs(cart.lines) do
    left[line.sku] = (left[line.sku] or 0) + line.net_cents
    local b = in_buy(line)
    if b then buy_units = buy_units + line.qty end
    if in_get(line) then
      get_units = get_units + line.qty
      gets[#gets + 1] = { sku = line.sku, qty = line.qty, unit = line.unit_cents,
                          buy = b, i = i }
    end
  end
  sort(gets, function(a, b)
    if a.unit ~= b.unit then return a.unit < b.unit end
    if a.sku ~= b.sku then return a.sku < b.sku end
    return a.i < b.i
  end)

  -- g groups work when the g * y cheapest get units exist and the buy
  -- units left once those are taken out number at least g * x
  local function works(g)
    local free, overlap = g * y, 0
    if free > get_units then return false end
    for _, l in ipairs(gets) do
      if free == 0 then break end
      local take = l.qty < free and l.qty or free
      if l.buy then overlap = overlap + take end
      free = free - take
    end
    return buy_units - overlap >= g * x
  end
  local lo, hi = 0, math.min(get_units // y, buy_units // x)
  while lo < hi do -- the largest g that works (works is monotone)
    local mid = (lo + hi + 1) // 2
    if works(mid) then lo = mid else hi = mid - 1 end
  end
  if lo == 0 then return {} end

  local free, order, cents = lo * y, {}, {}
  for _, l in ipairs(gets) do
    if free == 0 then break end
    local take = l.qty < free and l.qty or free
    free = free - take
    local c = take * (l.unit * off_bp // 10000)
    if cents[l.sku] == nil then
      cents[l.sku] = 0
      order[#order + 1] = l.sku
    end
    cents[l.sku] = cents[l.sku] + c
  end
  local out = {}
  for _, sku in ipairs(order) do
    local c = cents[sku]
    if c > left[sku] then c = left[sku] end
    if c > 0 then
      out[#out + 1] = discount { cents = c, skus = { sku }, reason = reason }
    end
  end
  return out
end

return rule
