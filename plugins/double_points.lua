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

local rule = { name = "double_points" }

function rule.on_earn(order, ctx)
  local p = ctx.params or {}
  local bp = params.int(p, "multiplier_bp", 10000, 1, 100000)
  local cats = params.list(p, "categories", "categories")
  local reason = params.text(p, "reason")
  local points = order:base_points_for(cats) * bp // 10000
  if points <= 0 then return {} end
  if reason == nil then
    reason = bp == 10000 and "double points" or ("+" .. money.pct(bp) .. " points")
    if cats ~= nil then reason = reason .. " on " .. table.concat(cats, ", ") end
  end
  return { bonus_points { points = points, reason = reason } }
end

return rule
