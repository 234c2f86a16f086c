--[[
plugins/birthday.lua -- bonus points on the customer's birthday.

On earn, a member whose birthday (ctx.customer.birthday, "MM-DD") is today
(ctx.today, UTC) or at most `days` days before today gets `points` bonus
points, once per birthday: only the first order of the birthday window
earns it. A member born on 29 February has the birthday on 28 February in
other years. Hook: on_earn.

Once a year, and its limits: a plugin cannot see the ledger, so "already
given" is read from ctx.customer.last_order_at: when the customer already
ordered on or after the start of this year's birthday window (and before
ctx.now), that order was the one that earned the bonus. Hence:
  - the bonus goes to the first order in the window even when that order
    earned it only in part (or it was later refunded): no second chance;
  - when the plugin is added in the middle of someone's window after they
    ordered, they get nothing this year;
  - an order recorded at the very second of ctx.now is taken to be this
    order (so a runtime that counts the current order in the customer view
    still gives the bonus);
  - days are UTC days, not the shop's timezone.
Set `budget = { uses = ... }` in shop.lua to cap the campaign as a whole.

Params (defaults):
  points  bonus points (default 500; 1..1000000000)
  days    the window lasts this many days after the birthday (default 0:
          the birthday only; 0..364)

Example (shop.lua):
  plugin "plugins/birthday.lua" { points = 500, days = 7 }
]]

local rule = { name = "birthday" }

local function is_leap(y)
  return y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)
end

local MONTH_DAYS = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

-- Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
local function day_number(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- Digits of s from i to j as an integer, or nil.
local function digits(s, i, j)
  local n = 0
  for k = i, j do
    local b = s:byte(k)
    if b == nil or b < 48 or b > 57 then return nil end
    n = n * 10 + (b - 48)
  end
  return n
end

function rule.on_earn(order, ctx)
  local p = ctx.params or {}
  local points = params.int(p, "points", 500, 1, 1000000000)
  local days = params.int(p, "days", 0, 0, 364)
  local c = ctx.customer
  if c == nil or type(c.birthday) ~= "string" or #c.birthday ~= 5
     or c.birthday:sub(3, 3) ~= "-" then
    return {}
  end
  local bm, bd = digits(c.birthday, 1, 2), digits(c.birthday, 4, 5)
  if bm == nil or bd == nil or bm < 1 or bm > 12 or bd < 1 or bd > MONTH_DAYS[bm] then
    return {} -- not a date: no birthday to celebrate
  end
  local today = ctx.today
  local ty, tm, td = digits(today, 1, 4), digits(today, 6, 7), digits(today, 9, 10)
  local now_day = day_number(ty, tm, td)

  -- the start of the window: this year's birthday, or last year's when
  -- the window that began then still runs (late December birthdays)
  local start
  for y = ty, ty - 1, -1 do
    local d = bd
    if bm == 2 and d == 29 and not is_leap(y) then d = 28 end
    local s = day_number(y, bm, d)
    if s <= now_day and now_day - s <= days then
      start = s
      break
    end
  end
  if start == nil then return {} end

  local last = c.last_order_at
  if last ~= nil and last >= start * 86400 and last < ctx.now then
    return {} -- an earlier order in this window had the bonus
  end
  return { bonus_points { points = points, reason = "happy birthday" } }
end

return rule
