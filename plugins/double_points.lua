--[[
plugins/double_points.lua -- a points campaign: double (or +N%) points.

On earn, a bonus of `multiplier_bp` basis points of the order's base points
(order.base_points, already after the tier multiplier): 10000 doubles the
points, 5000 gives half as many again. The campaign window is the plugin's
`from` / `to` (and its `budget`), enforced by the core, not here. With
`categories`, the bonus is only on those categories' share of the order:
  share = floor(base_points * net of those lines / net of all lines)
  bonus = floor(share * multiplier_bp / 10000)
(net = cart.lines[i].net_cents). A bonus that floors to 0 is not given.
Hook: on_earn.

Params (defaults):
  multiplier_bp  basis points of the base points given on top (default
                 10000 = double points; 1..100000)
  categories     list of categories the bonus is limited to (default: all)
  reason         text of the bonus (default "double points", or
                 "+50% points" for other multipliers, with " on coffee,
                 mugs" when limited to categories)

Example (shop.lua):
  plugin "plugins/double_points.lua" { from = "2026-12-01", to = "2026-12-24",
    budget = { points = 500000, uses = 10000 }, categories = { "coffee" } }
]]

local fmt, tointeger = string.format, math.tointeger

local rule = { name = "double_points" }

local function is_table(v)
  local t = type(v)
  return t == "table" or t == "userdata"
end

local function int_param(p, key, default, lo, hi)
  local v = p[key]
  if v == nil then return default end
  local n = v
  if type(n) == "string" then n = tonumber(n) end
  n = type(n) == "number" and tointeger(n) or nil
  if n == nil or n < lo or n > hi then
    error(fmt("param %s must be an integer in %d..%d, got %s",
              key, lo, hi, tostring(v)), 0)
  end
  return n
end

-- A list of strings: a Lua list, or one text with commas ("a,b").
local function list_param(p, key)
  local v, out = p[key], {}
  if v == nil then return nil end
  if type(v) == "string" then
    local i = 1
    while i <= #v do
      local j = string.find(v, ",", i, true) or #v + 1
      if j > i then out[#out + 1] = string.sub(v, i, j - 1) end
      i = j + 1
    end
    return out
  end
  if is_table(v) then
    for i, s in ipairs(v) do
      if type(s) ~= "string" then
        error(fmt("param %s[%d] must be text", key, i), 0)
      end
      out[#out + 1] = s
    end
    return out
  end
  error(fmt("param %s must be a list of categories", key), 0)
end

-- "50%", "12.5%" for basis points.
local function percent(bp)
  if bp % 100 == 0 then return fmt("%d%%", bp // 100) end
  local s = fmt("%d.%02d", bp // 100, bp % 100)
  if s:sub(-1) == "0" then s = s:sub(1, -2) end
  return s .. "%"
end

-- Base points, or their share earned by the lines in `cats` (nil = all).
local function base_for(order, cats)
  local base = order.base_points or 0
  if cats == nil or base <= 0 then return base end
  local want = {}
  for _, c in ipairs(cats) do want[c] = true end
  local all, part = 0, 0
  for _, line in ipairs(order.lines) do
    all = all + line.net_cents
    if want[line.category] then part = part + line.net_cents end
  end
  if all <= 0 or part <= 0 then return 0 end
  if part >= all then return base end
  return base * part // all
end

function rule.on_earn(order, ctx)
  local p = ctx.params or {}
  local bp = int_param(p, "multiplier_bp", 10000, 1, 100000)
  local cats = list_param(p, "categories")
  local reason = p.reason
  if reason ~= nil and type(reason) ~= "string" then
    error("param reason must be text", 0)
  end
  local points = base_for(order, cats) * bp // 10000
  if points <= 0 then return {} end
  if reason == nil then
    reason = bp == 10000 and "double points" or ("+" .. percent(bp) .. " points")
    if cats ~= nil then reason = reason .. " on " .. table.concat(cats, ", ") end
  end
  return { bonus_points { points = points, reason = reason } }
end

return rule
