--[[
plugins/first_order.lua -- bonus points on a member's first order.

On earn, a known customer with no order yet (ctx.customer.order_count == 0)
gets `points` bonus points. On quote, the same customer gets a welcome
message at the till (the `message` param; false turns it off). Anonymous
carts get nothing. A customer moved in from an older program (customers
import) has no orders in patron yet, so their first order here counts as
a first order. Hooks: on_quote, on_earn.

Params (defaults):
  points   bonus points (default 200; 1..1000000000)
  message  the welcome line: text, or false for none (default "Welcome!
           Your first order earns 200 bonus points.", with the points
           param in it)

Example (shop.lua):
  plugin "plugins/first_order.lua" { points = 200 }
]]

local fmt = string.format

local rule = { name = "first_order" }

local function is_first(ctx)
  local c = ctx.customer
  return c ~= nil and c.order_count == 0
end

function rule.on_quote(cart, ctx)
  local p = ctx.params or {}
  local points = params.int(p, "points", 200, 1, 1000000000)
  local text = p.message
  if text == false or not is_first(ctx) then return {} end
  if text == nil or text == true then
    text = fmt("Welcome! Your first order earns %d bonus points.", points)
  elseif type(text) ~= "string" then
    error("param message must be text or false", 0)
  end
  return { message { text = text } }
end

function rule.on_earn(order, ctx)
  local p = ctx.params or {}
  local points = params.int(p, "points", 200, 1, 1000000000)
  if not is_first(ctx) then return {} end
  return { bonus_points { points = points, reason = "first order" } }
end

return rule
