-- lua/prelude.lua -- the Lua half of the rule runtime (core/script.c). It
-- runs once in every rule state, before the plugins, and returns:
--   new_env(name)  a fresh environment for one plugin (its own copies of
--                  the safe functions and libraries, the action
--                  constructors, `money`, `params`), whose reads of undeclared
--                  globals raise, and a function that seals it: after the
--                  file has loaded, assigning a new global raises too. A
--                  global once declared stays declared when set to nil;
--   cart_mt        the metatable of cart and order views' backing tables,
--                  giving cart:has_sku(), qty_of(), qty_in_category(),
--                  categories().
-- C passes the already sandboxed functions in `host` (pairs, pcall,
-- setmetatable ... and the string, table, math, utf8, coroutine tables);
-- this file only composes them. A plugin reaches nothing here except the
-- functions it is handed. Actions are plain tables { action = name, ... };
-- their fields are checked by the core (script.c), never here, so that a
-- bad action is dropped with a warning instead of failing the whole hook.

local host = ...
local BASE, LIBS = host.base, host.libs
local type, next, error, tostring, tonumber, rawset, setmetatable, getmetatable, ipairs =
      type, next, error, tostring, tonumber, rawset, setmetatable, getmetatable, ipairs
local spairs = BASE.pairs          -- sandboxed: __pairs, else a fixed order
local sort, format, mtype, tointeger = table.sort, string.format, math.type, math.tointeger
local find, sub = string.find, string.sub

local M = {}

---------------------------------------------------------------- actions

local ACTIONS = {}
for _, name in ipairs({ "discount", "free_item", "suggest", "bonus_points",
                        "message", "shipping" }) do
  ACTIONS[name] = function(fields)
    if type(fields) ~= "table" then
      return { action = name, invalid = format(
        "%s needs a table of fields, like %s { ... }, got %s", name, name, type(fields)) }
    end
    local a = {}
    if getmetatable(fields) == nil then   -- a plain table: order does not matter
      for k, v in next, fields do a[k] = v end
    else                                  -- a view, or the plugin's own object
      for k, v in spairs(fields) do a[k] = v end
    end
    a.action = name
    return a
  end
end

---------------------------------------------------------------- cart helpers

local cart_methods = {}

function cart_methods.has_sku(cart, sku)
  for _, l in ipairs(cart.lines) do
    if l.sku == sku then return true end
  end
  return false
end

function cart_methods.qty_of(cart, sku)
  local n = 0
  for _, l in ipairs(cart.lines) do
    if l.sku == sku then n = n + l.qty end
  end
  return n
end

function cart_methods.qty_in_category(cart, category)
  local n = 0
  for _, l in ipairs(cart.lines) do
    if l.category == category then n = n + l.qty end
  end
  return n
end

function cart_methods.categories(cart)
  local seen, out = {}, {}
  for _, l in ipairs(cart.lines) do
    local c = l.category
    if c ~= "" and not seen[c] then
      seen[c] = true
      out[#out + 1] = c
    end
  end
  sort(out)
  return out
end

-- order:base_points_for(cats): the order's base points, or the share of
-- them the lines in the categories cats earned (by net cents, rounded
-- down); nil cats: all of them. On a cart (no base points yet): 0.
function cart_methods.base_points_for(order, cats)
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

M.cart_mt = { __index = cart_methods }

---------------------------------------------------------------- money

local money = {}

-- floor(cents * bp / 10000) for integers, without overflow.
function money.bp(cents, bp)
  if mtype(cents) ~= "integer" or mtype(bp) ~= "integer" then
    error("money.bp: cents and bp must be integers", 2)
  end
  return (cents // 10000) * bp + (cents % 10000) * bp // 10000
end

-- "12.34" (and "-0.05") from integer cents.
function money.str(cents)
  if mtype(cents) ~= "integer" then error("money.str: cents must be an integer", 2) end
  local a = cents < 0 and -cents or cents
  return format("%s%d.%02d", cents < 0 and "-" or "", a // 100, a % 100)
end

-- "20%", "12.5%", "0.25%" from integer basis points.
function money.pct(bp)
  if mtype(bp) ~= "integer" then error("money.pct: bp must be an integer", 2) end
  local a = bp < 0 and -bp or bp
  local s
  if a % 100 == 0 then
    s = format("%d", a // 100)
  else
    s = format("%d.%02d", a // 100, a % 100)
    if sub(s, -1) == "0" then s = sub(s, 1, -2) end
  end
  return (bp < 0 and "-" or "") .. s .. "%"
end

---------------------------------------------------------------- params

-- Reading ctx.params (a view, or the plugin's own table). A bad param
-- raises "param <key> ..." without a position (level 0): the runtime puts
-- the plugin's file and line in front, and the hook's actions are dropped.
local params = {}

-- A table or a view (views of ctx.params and carts are userdata).
function params.is_table(v)
  local t = type(v)
  return t == "table" or t == "userdata"
end

-- An integer in lo..hi (a number, or a text holding one: "5"); default
-- when absent.
function params.int(p, key, default, lo, hi)
  local v = p[key]
  if v == nil then return default end
  local n = v
  if type(n) == "string" then n = tonumber(n) end
  n = type(n) == "number" and tointeger(n) or nil
  if n == nil or n < lo or n > hi then
    error(format("param %s must be an integer in %d..%d, got %s",
                 key, lo, hi, tostring(v)), 0)
  end
  return n
end

-- A new array of strings: a list of texts, or one text with commas
-- ("a,b"; empty items skipped); nil when absent. `what` names the items in
-- the error (default "texts").
function params.list(p, key, what)
  local v, out = p[key], {}
  if v == nil then return nil end
  if type(v) == "string" then
    local i = 1
    while i <= #v do
      local j = find(v, ",", i, true) or #v + 1
      if j > i then out[#out + 1] = sub(v, i, j - 1) end
      i = j + 1
    end
    return out
  end
  if params.is_table(v) then
    for i, s in ipairs(v) do
      if type(s) ~= "string" then
        error(format("param %s[%d] must be text", key, i), 0)
      end
      out[#out + 1] = s
    end
    return out
  end
  error(format("param %s must be a list of %s", key, what or "texts"), 0)
end

-- A text, or nil when absent.
function params.text(p, key)
  local v = p[key]
  if v ~= nil and type(v) ~= "string" then
    error(format("param %s must be text", key), 0)
  end
  return v
end

---------------------------------------------------------------- environments

local function copy(t)
  local c = {}
  for k, v in next, t do c[k] = v end
  return c
end

function M.new_env(name)
  local env = copy(BASE)
  for k, lib in next, LIBS do env[k] = copy(lib) end
  for k, f in next, ACTIONS do env[k] = f end
  env.money = copy(money)
  env.params = copy(params)
  env._G = env
  local declared, sealed = {}, false
  for k in next, env do declared[k] = true end
  setmetatable(env, {
    __index = function(_, k)
      if declared[k] then return nil end    -- declared, then set to nil
      error(format("undeclared global '%s'", tostring(k)), 2)
    end,
    __newindex = function(t, k, v)
      if sealed and not declared[k] then
        error(format("assignment to undeclared global '%s' (globals are declared "
                     .. "when the file loads; use a local)", tostring(k)), 2)
      end
      declared[k] = true
      rawset(t, k, v)
    end,
    __metatable = false,
  })
  return env, function()
    for k in next, env do declared[k] = true end
    sealed = true
  end
end

return M
