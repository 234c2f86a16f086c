--[[
plugins/annual_upsell.lua -- offers monthly subscribers the annual plan.

On quote, for each active subscription (ctx.customer.subscriptions, status
"active") to a monthly plan (ctx.plans: every = "month", count = 1) that
has an annual twin (a plan with every = "year", count = 1 and twin = the
monthly plan's name) costing less than 12 months, it adds a message:
  Switch to pro-annual: 102.00 a year, save 18.00 (15%) against 12 x pro-monthly
with saving = 12 x monthly - annual and percentage = floor(saving * 100 /
(12 x monthly)). When several annual plans name the same monthly one, the
one saving most is offered (the first declared on a tie). Nothing is
offered to a customer who already has an active or trialing subscription
to that annual plan. Messages come in the order of the monthly plans'
names. Hook: on_quote.

Limitation: the saving uses the plans' current prices (ctx.plans); a
grandfathered subscriber paying an older monthly price is not visible to
plugins (subscriptions show only { plan, status }).

Params: none.

Example (shop.lua):
  plugin "plugins/annual_upsell.lua" {}
]]

local fmt, sort = string.format, table.sort

local rule = { name = "annual_upsell" }

local function is_period(plan, every)
  return plan.every == every and (plan.count == nil or plan.count == 1)
end

function rule.on_quote(cart, ctx)
  local c = ctx.customer
  if c == nil or c.subscriptions == nil or ctx.plans == nil then return {} end

  local by_name = {}
  for _, plan in ipairs(ctx.plans) do by_name[plan.name] = plan end

  local has, monthly = {}, {}
  for _, sub in ipairs(c.subscriptions) do
    if sub.status == "active" or sub.status == "trialing" then has[sub.plan] = true end
  end
  for _, sub in ipairs(c.subscriptions) do
    local plan = by_name[sub.plan]
    if sub.status == "active" and plan ~= nil and is_period(plan, "month")
       and monthly[plan.name] == nil then
      monthly[#monthly + 1] = plan.name
      monthly[plan.name] = plan
    end
  end
  sort(monthly)

  local out = {}
  for _, name in ipairs(monthly) do
    local m = monthly[name]
    local year_cost = 12 * m.price_cents
    local best, best_saving
    for _, plan in ipairs(ctx.plans) do
      if plan.twin == name and is_period(plan, "year") then
        local saving = year_cost - plan.price_cents
        if best == nil or saving > best_saving then best, best_saving = plan, saving end
      end
    end
    if best ~= nil and best_saving > 0 and not has[best.name] then
      out[#out + 1] = message { text = fmt(
        "Switch to %s: %s a year, save %s (%d%%) against 12 x %s",
        best.name, money.str(best.price_cents), money.str(best_saving),
        best_saving * 100 // year_cost, name) }
    end
  end
  return out
end

return rule
