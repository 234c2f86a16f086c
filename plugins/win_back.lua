--[[
plugins/win_back.lua -- welcomes back customers who have been away.

A known customer whose last order (ctx.customer.last_order_at) is more than
`after_days` days before ctx.now (strictly more: 90 days and one second is
enough, exactly 90 days is not) gets a "welcome back" message on quote and
`points` bonus points on earn. A customer with no order yet gets nothing
(see first_order.lua). Hooks: on_quote, on_earn.

Params (defaults):
  points      bonus points (default 300; 1..1000000000)
  after_days  days away before the bonus (default 90; 1..36500)
  message     the till line: text, or false for none (default "Welcome
              back! This order earns 300 bonus points.", with the points
              param in it)

Example (shop.lua):
  plugin "plugins/win_back.lua" { points = 300, after_days = 90 }
]]

local fmt = string.format

local rule = { name = "win_back" }

local function is_back(ctx, after_days)
  local c = ctx.customer
  local last = c and c.last_order_at
  return last ~= nil and ctx.now - last > after_days * 86400
end

function rule.on_quote(cart, ctx)
  local p = ctx.params or {}
  local points = params.int(p, "points", 300, 1, 1000000000)
  local after_days = params.int(p, "after_days", 90, 1, 36500)
  local text = p.message
  if text == false or not is_back(ctx, after_days) then return {} end
  if text == nil or text == true then
    text = fmt("Welcome back! This order earns %d bonus points.", points)
  elseif type(text) ~= "string" then
    error("param message must be text or false", 0)
  end
  return { message { text = text } }
end

function rule.on_earn(order, ctx)
  local p = ctx.params or {}
  local points = params.int(p, "points", 300, 1, 1000000000)
  local after_days = params.int(p, "after_days", 90, 1, 36500)
  if not is_back(ctx, after_days) then return {} end
  return { bonus_points { points = points, reason = "welcome back" } }
end

return rule
