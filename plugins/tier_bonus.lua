--[[
plugins/tier_bonus.lua -- extra points for members of the named tiers.

On earn, a member whose tier (order.tier, else ctx.customer.tier) is named
in `tiers` gets a bonus of that many basis points of the order's base
points (order.base_points, already after the tier multiplier): gold = 2000
gives +20%. With `categories`, the bonus is only on those categories' share
of the order:
  share = floor(base_points * net of those lines / net of all lines)
  bonus = floor(share * bp / 10000)
(net = cart.lines[i].net_cents). A bonus that floors to 0 is not given.
Hook: on_earn.

Params (defaults):
  tiers       record of tier name -> basis points, e.g.
              { gold = 2000, silver = 1000 } (default {}: no bonus);
              0..100000 each (100000 = +1000%)
  categories  list of categories the bonus is limited to (default: all)

Example (shop.lua):
  plugin "plugins/tier_bonus.lua" { tiers = { gold = 2000, silver = 1000 } }
]]

local fmt, tointeger = string.format, math.tointeger

local rule = { name = "tier_bonus" }

function rule.on_earn(order, ctx)
  local p = ctx.params or {}
  local tiers = p.tiers
  if tiers == nil then return {} end
  if not params.is_table(tiers) then
    error("param tiers must be a record of tier name = basis points", 0)
  end
  local tier = order.tier
  if (tier == nil or tier == "") and ctx.customer ~= nil then tier = ctx.customer.tier end
  if type(tier) ~= "string" or tier == "" then return {} end
  local raw = tiers[tier]
  if raw == nil then return {} end
  local bp = type(raw) == "string" and tonumber(raw) or raw
  bp = type(bp) == "number" and tointeger(bp) or nil
  if bp == nil or bp < 0 or bp > 100000 then
    error(fmt("param tiers.%s must be an integer in 0..100000 (basis points), got %s",
              tier, tostring(raw)), 0)
  end
  local cats = params.list(p, "categories", "categories")
  local points = order:base_points_for(cats) * bp // 10000
  if points <= 0 then return {} end
  local reason = fmt("%s tier bonus +%s", tier, money.pct(bp))
  if cats ~= nil then reason = reason .. " on " .. table.concat(cats, ", ") end
  return { bonus_points { points = points, reason = reason } }
end

return rule
