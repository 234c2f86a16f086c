--[[
lua/config.lua -- the shop configuration language: what `patron apply
shop.lua` understands, and the checks it makes. The C side (core/config_lua.c)
runs shop.lua in a sandbox with only the declarations below and a few safe
helpers, then this file validates every declaration and returns one table
that C stores as canonical JSON.

WRITING shop.lua
  shop.lua is Lua 5.4 text. It may use local variables, loops, functions and
  these helpers: string (without the pattern functions find, match, gmatch
  and gsub, which could run for ever inside one call), table (table.move
  moves at most 10 million elements), math (without
  random: the same file must give the same configuration), utf8, pairs,
  ipairs, next, select, type, tostring, tonumber, assert, error, pcall,
  xpcall, rawequal, rawget, rawlen. Files, the clock, the network, load,
  require and print are not available. Reading a name that is neither a declaration, a
  helper nor a global you assigned earlier is an error (typos fail loudly).
  Evaluation is stopped after 20 million Lua instructions or 32 MiB.
  Amounts are integers in minor units (cents); percentages are basis points
  (1500 = 15%). Writing 1.5 or 1.0 where an integer is expected is an error.
  A declaration named twice, an unknown key, a wrong type or an impossible
  value is an error that names the file, the line and the key.

shop { ... }                                        -- exactly once
  currency             required; 3 uppercase letters (ISO 4217), "EUR"
  timezone             text, default "UTC"
  prices_include_tax   true/false, default true (patron computes no tax)
  strict               true/false, default false: a failing plugin fails
                       the quote instead of being skipped with a warning
  default_program      name of a declared program; default "default" when
                       such a program exists, else the first one declared
  contact_cap          { max = integer >= 0, per_days = integer > 0 }:
                       marketing messages per customer, default 2 per 7 days
  abandoned_cart_hours integer > 0, default 24

program "name" { ... }                              -- at least one
  earn        { points_per_unit = integer >= 0 (default 1), points per whole
                currency unit paid; on = "paid" (the only choice for now);
                pending_days = 0..36500 (default 0), points become spendable
                after this many days (the return window) }
  value       { points = integer > 0, cents = integer >= 0 }: that many
                points are worth that many cents (default 100 = 100)
  redeem      { min_points = integer >= 0 (default 0), smallest redemption;
                max_share_bp = 0..10000 (default 10000), the largest share of
                an order that points may pay }
  expiry      { months = 0..1200 (default 0 = points never expire);
                notice_days = 0..36500 (default 30), warn this many days
                before points expire }
  tiers       optional list of { name = "...", from_cents = integer >= 0,
                multiplier_bp = integer >= 0 (default 10000 = x1) }; the
                first tier starts at from_cents = 0, each next one higher
  tier_window { months = 0..1200 (default 12; 0 = lifetime spend) }

bundle "name" { ... }
  skus        list of skus; a sku written twice means 2 units of it, or
  items       list of { sku = "...", qty = 1..1000000 } (not both)
  off_bp      1..10000 off each unit of the bundle, or
  price_cents integer >= 0, a fixed price for the whole bundle (not both)
  A bundle holds at least 2 units in total.

free_shipping { ... }                               -- any number
  threshold_cents  required, integer >= 0: free at or above this subtotal
  shipping_cents   required, integer >= 0: the shipping charged below it
  program          optional: only for this declared program
  region           optional: only for this region
  One rule per (program, region) pair.

plugin "path/to/rule.lua" { ... }
  The path is looked up next to shop.lua first, then in patron's own
  plugins folder ("plugins/cross_sell.lua" works from any shop folder).
  The file must be Lua source that compiles. Reserved keys:
  name          default: the file name without .lua ("cross_sell")
  from, to      "YYYY-MM-DD" (midnight UTC) or "YYYY-MM-DDTHH:MM:SSZ"
                (or +HH:MM): the plugin acts from `from` until just before
                `to`; from must be before to. Default: always.
  budget        { points = integer >= 0, cents = integer >= 0,
                uses = integer >= 0 }: what the plugin may give away in
                total; a missing entry is unlimited
  instructions  integer > 0, default 1000000: per hook call
  memory_kb     1..1048576, default 8192: the plugin's memory
  Every other key is a parameter passed to the plugin as ctx.params: text,
  numbers (fractions allowed), true/false and tables of them. A table is a
  list (keys 1..n) or a record (text keys), never both; {} is a list.

plan "name" { ... }
  price_cents  required, integer >= 0
  every        required: "day", "week", "month" or "year"
  count        1..1000, default 1: bill every `count` periods
  trial_days   0..36500, default 0
  program      optional declared program: renewals earn points there
  twin         optional declared plan: this (annual) plan is the discounted
               twin of that (monthly) one

dunning { ... }                                     -- at most once
  retry_days   list of at most 16 days after the failed charge, each > 0 and
               larger than the one before; default { 1, 3, 5, 7 }
  grace_days   0..36500, default 10: access is kept this long
  final        "suspend" (default) or "cancel"
  max_retries  0..1000, default the number of retry_days

The result (stored as JSON, keys sorted, arrays in declaration order):
  { shop = { currency, timezone, prices_include_tax, strict,
             contact_cap_max, contact_cap_per_days, abandoned_cart_hours },
    default_program = "...",
    programs = { { name, points_per_unit, earn_on, pending_days,
                   value_points, value_cents, min_points, max_share_bp,
                   expiry_months, expiry_notice_days, tiers = { { name,
                   from_cents, multiplier_bp } }, tier_window_months } },
    bundles = { { name, items = { { sku, qty } }, off_bp, price_cents } },
    free_shipping = { { threshold_cents, shipping_cents, program, region } },
    plugins = { { name, path, source, params, from, to, budget_points,
                  budget_cents, budget_uses, instructions, memory_bytes } },
    plans = { { name, price_cents, every, count, trial_days, program,
                twin } },
    dunning = { retry_days, grace_days, final_action, max_retries } }
  Absent optional values are JSON null (from/to as UTC seconds).
]]

local host = ...

-- Everything this file uses is captured now, before shop.lua runs.
local type, pairs, ipairs, tostring, error, setmetatable, rawset =
      type, pairs, ipairs, tostring, error, setmetatable, rawset
local mtype, floor, huge = math.type, math.floor, math.huge
local sfind, sformat, ssub, sgsub, sbyte, smatch, sgmatch =
      string.find, string.format, string.sub, string.gsub, string.byte,
      string.match, string.gmatch
local tsort, tconcat, tmove = table.sort, table.concat, table.move
local srep, tonumber = string.rep, tonumber
local utf8len, utf8offset = utf8.len, utf8.offset
local NULL, OBJECT, STRING_MT = host.null, host.object_mt, host.string_mt
local caller_line, read_plugin = host.caller_line, host.read_plugin
local check_syntax, parse_time = host.check_syntax, host.parse_time

local MAX_DAYS, MAX_MONTHS = 36500, 1200

local FILE, SOURCE = "shop.lua", ""
local decls = {}      -- every declaration, in call order
local M = {}

---------------------------------------------------------------- messages

local function quote(s)
  local n = utf8len(s)
  if n and n > 60 then
    s = ssub(s, 1, utf8offset(s, 58) - 1) .. "..."
  elseif not n and #s > 60 then
    s = ssub(s, 1, 57) .. "..."
  end
  local pat = n and '[%c"\\]' or '[%c"\\\128-\255]'
  return '"' .. sgsub(s, pat, function(c)
    if c == "\n" then return "\\n" end
    if c == '"' or c == "\\" then return "\\" .. c end
    return sformat("\\%d", sbyte(c))
  end) .. '"'
end

-- A value as shown after "got".
local function describe(v)
  local t = type(v)
  if t == "string" then return quote(v) end
  if t == "number" then
    if mtype(v) == "integer" then return tostring(v) end
    if v == floor(v) and v > -1e15 and v < 1e15 then
      return sformat("%s (write %d, without a decimal point)", tostring(v), floor(v))
    end
    return tostring(v)
  end
  if t == "table" then return "a table" end
  if t == "nil" then return "nothing" end
  if t == "boolean" then return tostring(v) end
  return "a " .. t
end

local function list_text(names)
  if #names == 0 then return "none" end
  return tconcat(names, ", ")
end

local function at(path, c)
  local n = {}
  for i = 1, #path do n[i] = path[i] end
  n[#n + 1] = c
  return n
end

local function pathstr(path)
  local out = {}
  for i, c in ipairs(path) do
    if type(c) == "number" then out[#out + 1] = "[" .. c .. "]"
    elseif i == 1 then out[#out + 1] = c
    else out[#out + 1] = "." .. c end
  end
  return tconcat(out)
end

---------------------------------------------------------------- lines

local lines
local function source_lines()
  if not lines then
    lines = {}
    for l in sgmatch(SOURCE .. "\n", "([^\n]*)\n") do lines[#lines + 1] = l end
  end
  return lines
end

local function next_decl_line(line)
  local best
  for _, d in ipairs(decls) do
    if d.line > line and (not best or d.line < best) then best = d.line end
  end
  return best
end

-- The line of a key: from the declaration's line on (and before the next
-- declaration), find `key =` for each name in the path in turn; an index
-- [k] means the k-th occurrence of the key after it. The declaration's
-- line when the key is not written there.
local function find_line(d, path)
  local ls = source_lines()
  local stop = next_decl_line(d.line) or (#ls + 1)
  local ln, col, skip = d.line, 1, 0
  if ln < 1 then return d.line end
  for _, c in ipairs(path) do
    if type(c) == "number" then
      skip = c - 1
    else
      if not sfind(c, "^[%a_][%w_]*$") then break end
      local pat = "%f[%w_]" .. c .. "%s*=()"
      local l, from, found = ln, col, nil
      while l < stop and ls[l] do
        local a, _, after = sfind(ls[l], pat, from)
        if not a then
          l, from = l + 1, 1
        elseif ssub(ls[l], after, after) == "=" then
          from = after + 1                       -- `key ==`: not a key
        elseif skip > 0 then
          skip, from = skip - 1, after
        else
          found = after
          break
        end
      end
      if not found then break end
      ln, col, skip = l, found, 0
    end
  end
  return ln
end

local function fail_at(line, label, msg)
  error(sformat("%s:%d: %s: %s", FILE, line, label, msg), 0)
end

-- Fails with "FILE:LINE: label: path why".
local function bad(d, path, why)
  local p = pathstr(path)
  fail_at(find_line(d, path), d.label, p ~= "" and (p .. " " .. why) or why)
end

---------------------------------------------------------------- checks

local function is_int(v) return mtype(v) == "integer" end

local function range_text(min, max)
  if max then return sformat("an integer from %d to %d", min, max) end
  if min == 0 then return "an integer >= 0" end
  if min == 1 then return "an integer > 0" end
  return sformat("an integer >= %d", min)
end

local function int_at(d, path, v, min, max)
  if not is_int(v) or v < min or (max and v > max) then
    bad(d, path, "must be " .. range_text(min, max) .. ", got " .. describe(v))
  end
  return v
end

local function opt_int(d, t, path, key, min, max, default)
  local v = t[key]
  if v == nil then return default end
  return int_at(d, at(path, key), v, min, max)
end

local function req_int(d, t, path, key, min, max)
  local v = t[key]
  if v == nil then
    bad(d, at(path, key), "is required (" .. range_text(min, max) .. ")")
  end
  return int_at(d, at(path, key), v, min, max)
end

local function opt_bool(d, t, path, key, default)
  local v = t[key]
  if v == nil then return default end
  if type(v) ~= "boolean" then
    bad(d, at(path, key), "must be true or false, got " .. describe(v))
  end
  return v
end

local NAME_SPEC = "1 to 63 characters of UTF-8 text without control characters"
local NAME_RULE = "a name of " .. NAME_SPEC
local function name_ok(v)
  return type(v) == "string" and #v >= 1 and #v <= 63 and utf8len(v) ~= nil
     and not sfind(v, "%c")
end

local function name_at(d, path, v, what)
  if not name_ok(v) then
    bad(d, path, "must be " .. (what or NAME_RULE) .. ", got " .. describe(v))
  end
  return v
end

local function opt_name(d, t, path, key)
  local v = t[key]
  if v == nil then return nil end
  return name_at(d, at(path, key), v)
end

local function enum_at(d, path, v, choices)
  for _, c in ipairs(choices) do
    if v == c then return v end
  end
  local q = {}
  for i, c in ipairs(choices) do q[i] = '"' .. c .. '"' end
  local last = tconcat(q, ", ")
  if #q > 1 then last = tconcat(q, ", ", 1, #q - 1) .. " or " .. q[#q] end
  bad(d, path, "must be " .. (#q > 1 and "one of " or "") .. last ..
               ", got " .. describe(v))
end

local function table_at(d, path, v)
  if type(v) ~= "table" then
    bad(d, path, "must be a table { ... }, got " .. describe(v))
  end
  return v
end

-- t's keys must all be names among allowed (a list).
local function check_keys(d, path, t, allowed)
  local ok = {}
  for _, k in ipairs(allowed) do ok[k] = true end
  local unknown, positional = {}, false
  for k in pairs(t) do
    if type(k) ~= "string" then positional = true
    elseif not ok[k] then unknown[#unknown + 1] = k end
  end
  local where = #path > 0 and (pathstr(path) .. ": ") or ""
  if positional then
    fail_at(find_line(d, path), d.label, where ..
            "a value without a key (allowed keys: " .. list_text(allowed) .. ")")
  end
  if #unknown > 0 then
    tsort(unknown)
    local k = unknown[1]
    fail_at(find_line(d, at(path, k)), d.label, where .. "unknown key " ..
            quote(k) .. " (allowed: " .. list_text(allowed) .. ")")
  end
end

-- A table of sub-settings: {} when absent.
local function sub(d, t, key, allowed)
  local v = t[key]
  if v == nil then return {} end
  table_at(d, { key }, v)
  check_keys(d, { key }, v, allowed)
  return v
end

-- v must be a list (keys 1..n, no holes); returns n.
local function list_at(d, path, v, what)
  if type(v) ~= "table" then
    bad(d, path, "must be a list { ... } of " .. what .. ", got " .. describe(v))
  end
  local n = 0
  for k in pairs(v) do
    if not is_int(k) or k < 1 then
      bad(d, path, "must be a list of " .. what .. ", but has the key " .. describe(k))
    end
    n = n + 1
  end
  for i = 1, n do
    if v[i] == nil then bad(d, path, "must be a list without holes (a nil inside)") end
  end
  return n
end

local function declared(d, path, name, set, names, what)
  if not set[name] then
    bad(d, path, sformat("%s is not a declared %s (%ss: %s)", quote(name), what,
                         what, list_text(names)))
  end
  return name
end

---------------------------------------------------------------- params

-- A plugin parameter, copied into a fresh JSON-able table.
local function json_value(d, path, v, depth)
  local t = type(v)
  if t == "string" then
    if not utf8len(v) then bad(d, path, "must be valid UTF-8 text") end
    return v
  elseif t == "number" then
    if v ~= v or v == huge or v == -huge then
      bad(d, path, "must be a finite number, got " .. describe(v))
    end
    return v
  elseif t == "boolean" then
    return v
  elseif t == "table" then
    if depth > 32 then bad(d, path, "is nested too deeply (over 32 levels)") end
    local nint, keys = 0, {}
    for k in pairs(v) do
      if type(k) == "string" then
        keys[#keys + 1] = k
      elseif is_int(k) and k >= 1 then
        nint = nint + 1
      else
        bad(d, path, "has a key that is neither text nor a list position: " .. describe(k))
      end
    end
    if nint > 0 and #keys > 0 then
      bad(d, path, "mixes list values and named keys; use one or the other")
    end
    if #keys > 0 then
      tsort(keys)
      local o = setmetatable({}, OBJECT)
      for _, k in ipairs(keys) do
        if not utf8len(k) or sfind(k, "\0", 1, true) then
          bad(d, path, "has a key that is not valid text: " .. describe(k))
        end
        o[k] = json_value(d, at(path, k), v[k], depth + 1)
      end
      return o
    end
    local a = {}
    for i = 1, nint do
      if v[i] == nil then bad(d, path, "must be a list without holes (a nil inside)") end
      a[i] = json_value(d, at(path, i), v[i], depth + 1)
    end
    return a
  end
  bad(d, path, "cannot be stored in the configuration (it is a " .. t ..
               "); use text, numbers, true/false or tables of them")
end

---------------------------------------------------------------- declarations

local V = {}   -- validators by kind: V.kind(d, st)

local SHOP_KEYS = { "currency", "timezone", "prices_include_tax", "strict",
                    "default_program", "contact_cap", "abandoned_cart_hours" }

function V.shop(d, st)
  if st.shop_decl then
    fail_at(d.line, d.label, sformat("declared twice (first at line %d)", st.shop_decl.line))
  end
  st.shop_decl = d
  local t = d.body
  check_keys(d, {}, t, SHOP_KEYS)
  local cur = t.currency
  if cur == nil then
    bad(d, { "currency" }, 'is required (3 uppercase letters, such as "EUR")')
  end
  if type(cur) ~= "string" or not sfind(cur, "^[A-Z][A-Z][A-Z]$") then
    bad(d, { "currency" }, 'must be 3 uppercase letters (an ISO 4217 code such as "EUR"), got '
                           .. describe(cur))
  end
  local tz = t.timezone
  if tz == nil then
    tz = "UTC"
  elseif type(tz) ~= "string" or #tz > 63 or not sfind(tz, "^[%w_+%-/]+$") then
    bad(d, { "timezone" }, 'must be a time zone name such as "Europe/Helsinki", got '
                           .. describe(tz))
  end
  local s = {
    currency = cur,
    timezone = tz,
    prices_include_tax = opt_bool(d, t, {}, "prices_include_tax", true),
    strict = opt_bool(d, t, {}, "strict", false),
  }
  if t.default_program ~= nil then
    name_at(d, { "default_program" }, t.default_program)
    st.default_program = declared(d, { "default_program" }, t.default_program,
                                  st.programs, st.program_names, "program")
  end
  local cap = sub(d, t, "contact_cap", { "max", "per_days" })
  s.contact_cap_max = opt_int(d, cap, { "contact_cap" }, "max", 0, nil, 2)
  s.contact_cap_per_days = opt_int(d, cap, { "contact_cap" }, "per_days", 1, MAX_DAYS, 7)
  s.abandoned_cart_hours = opt_int(d, t, {}, "abandoned_cart_hours", 1, MAX_DAYS * 24, 24)
  st.shop = s
end

local PROGRAM_KEYS = { "earn", "value", "redeem", "expiry", "tiers", "tier_window" }

local function decl_name(d, st, kind)
  if not name_ok(d.name) then
    fail_at(d.line, d.label, "the name must be " .. NAME_SPEC .. ", got " ..
            describe(d.name))
  end
  local first = st.seen[kind][d.name]
  if first then
    fail_at(d.line, d.label, sformat("declared twice (first at line %d)", first.line))
  end
  st.seen[kind][d.name] = d
end

function V.program(d, st)
  decl_name(d, st, "program")
  local t = d.body
  check_keys(d, {}, t, PROGRAM_KEYS)
  local earn = sub(d, t, "earn", { "points_per_unit", "on", "pending_days" })
  local p = { name = d.name }
  p.points_per_unit = opt_int(d, earn, { "earn" }, "points_per_unit", 0, nil, 1)
  if earn.on ~= nil and earn.on ~= "paid" then
    bad(d, { "earn", "on" }, 'must be "paid" (the only choice for now), got ' .. describe(earn.on))
  end
  p.earn_on = "paid"
  p.pending_days = opt_int(d, earn, { "earn" }, "pending_days", 0, MAX_DAYS, 0)
  local value = sub(d, t, "value", { "points", "cents" })
  p.value_points = opt_int(d, value, { "value" }, "points", 1, nil, 100)
  p.value_cents = opt_int(d, value, { "value" }, "cents", 0, nil, 100)
  local redeem = sub(d, t, "redeem", { "min_points", "max_share_bp" })
  p.min_points = opt_int(d, redeem, { "redeem" }, "min_points", 0, nil, 0)
  p.max_share_bp = opt_int(d, redeem, { "redeem" }, "max_share_bp", 0, 10000, 10000)
  local expiry = sub(d, t, "expiry", { "months", "notice_days" })
  p.expiry_months = opt_int(d, expiry, { "expiry" }, "months", 0, MAX_MONTHS, 0)
  p.expiry_notice_days = opt_int(d, expiry, { "expiry" }, "notice_days", 0, MAX_DAYS, 30)
  local tiers = {}
  if t.tiers ~= nil then
    local n = list_at(d, { "tiers" }, t.tiers, "{ name = ..., from_cents = ... } tables")
    local names = {}
    for i = 1, n do
      local tp = { "tiers", i }
      local tr = table_at(d, tp, t.tiers[i])
      check_keys(d, tp, tr, { "name", "from_cents", "multiplier_bp" })
      if tr.name == nil then bad(d, at(tp, "name"), "is required") end
      local name = name_at(d, at(tp, "name"), tr.name)
      if names[name] then
        bad(d, at(tp, "name"), sformat("%s is used twice (also tiers[%d])", quote(name), names[name]))
      end
      names[name] = i
      local from = req_int(d, tr, tp, "from_cents", 0)
      if i == 1 and from ~= 0 then
        bad(d, at(tp, "from_cents"), "must be 0: the first tier starts at 0, got " .. from)
      end
      if i > 1 and from <= tiers[i - 1].from_cents then
        bad(d, at(tp, "from_cents"), sformat(
          "must be greater than tiers[%d].from_cents (%d): tiers ascend by spend, got %d",
          i - 1, tiers[i - 1].from_cents, from))
      end
      tiers[i] = { name = name, from_cents = from,
                   multiplier_bp = opt_int(d, tr, tp, "multiplier_bp", 0, nil, 10000) }
    end
  end
  p.tiers = tiers
  local window = sub(d, t, "tier_window", { "months" })
  p.tier_window_months = opt_int(d, window, { "tier_window" }, "months", 0, MAX_MONTHS, 12)
  st.out.programs[#st.out.programs + 1] = p
end

local SKU_RULE = "a sku of " .. NAME_SPEC

function V.bundle(d, st)
  decl_name(d, st, "bundle")
  local t = d.body
  check_keys(d, {}, t, { "skus", "items", "off_bp", "price_cents" })
  local order, qty = {}, {}
  local function add(sku, q)
    if not qty[sku] then
      order[#order + 1] = sku
      qty[sku] = 0
    end
    qty[sku] = qty[sku] + q
  end
  local key
  if t.skus ~= nil and t.items ~= nil then
    bad(d, { "items" }, "cannot be given together with skus: use one of them")
  elseif t.skus ~= nil then
    key = "skus"
    local n = list_at(d, { "skus" }, t.skus, "sku strings")
    for i = 1, n do add(name_at(d, { "skus", i }, t.skus[i], SKU_RULE), 1) end
  elseif t.items ~= nil then
    key = "items"
    local n = list_at(d, { "items" }, t.items, "{ sku = ..., qty = ... } tables")
    for i = 1, n do
      local tp = { "items", i }
      local it = table_at(d, tp, t.items[i])
      check_keys(d, tp, it, { "sku", "qty" })
      if it.sku == nil then bad(d, at(tp, "sku"), "is required") end
      local sku = name_at(d, at(tp, "sku"), it.sku, SKU_RULE)
      add(sku, req_int(d, it, tp, "qty", 1, 1000000))
    end
  else
    bad(d, {}, "needs skus = { ... } or items = { { sku = ..., qty = ... } }")
  end
  local total = 0
  for _, sku in ipairs(order) do total = total + qty[sku] end
  if total < 2 then
    bad(d, { key }, sformat("must hold at least 2 units in total, got %d", total))
  end
  local b = { name = d.name, items = {}, off_bp = NULL, price_cents = NULL }
  for i, sku in ipairs(order) do b.items[i] = { sku = sku, qty = qty[sku] } end
  if t.off_bp ~= nil and t.price_cents ~= nil then
    bad(d, { "price_cents" }, "cannot be given together with off_bp: a bundle has " ..
                              "either a percentage off or a fixed price")
  elseif t.off_bp ~= nil then
    b.off_bp = int_at(d, { "off_bp" }, t.off_bp, 1, 10000)
  elseif t.price_cents ~= nil then
    b.price_cents = int_at(d, { "price_cents" }, t.price_cents, 0)
  else
    bad(d, {}, "needs off_bp (basis points off each unit) or price_cents (a fixed price)")
  end
  st.out.bundles[#st.out.bundles + 1] = b
end

function V.free_shipping(d, st)
  local t = d.body
  check_keys(d, {}, t, { "threshold_cents", "shipping_cents", "program", "region" })
  local f = {
    threshold_cents = req_int(d, t, {}, "threshold_cents", 0),
    shipping_cents = req_int(d, t, {}, "shipping_cents", 0),
    program = NULL, region = NULL,
  }
  local prog = opt_name(d, t, {}, "program")
  if prog then
    f.program = declared(d, { "program" }, prog, st.programs, st.program_names, "program")
  end
  local region = opt_name(d, t, {}, "region")
  if region then f.region = region end
  local key = (prog and "p" .. prog or "*") .. "\0" .. (region and "r" .. region or "*")
  local first = st.seen.free_shipping[key]
  if first then
    fail_at(d.line, d.label, sformat("declared twice for %s and %s (first at line %d)",
      prog and ("program " .. quote(prog)) or "every program",
      region and ("region " .. quote(region)) or "every region", first.line))
  end
  st.seen.free_shipping[key] = d
  st.out.free_shipping[#st.out.free_shipping + 1] = f
end

local PLUGIN_RESERVED = { "name", "from", "to", "budget", "instructions", "memory_kb" }
local TIME_RULE = 'a date "YYYY-MM-DD" or a time "YYYY-MM-DDTHH:MM:SSZ"'

function V.plugin(d, st)
  if type(d.name) ~= "string" or d.name == "" or sfind(d.name, "%c") then
    fail_at(d.line, d.label, "the path must be a file name, got " .. describe(d.name))
  end
  local t = d.body
  for k in pairs(t) do
    if type(k) ~= "string" then
      fail_at(d.line, d.label, "a value without a key: plugin parameters need names")
    end
  end
  local src, where = read_plugin(d.name)
  if not src then fail_at(d.line, d.label, where) end
  local err = check_syntax(src, "@" .. where)
  if err then fail_at(d.line, d.label, "syntax error in " .. err) end
  local name = t.name
  if name == nil then
    name = smatch(d.name, "([^/]*)$")
    name = sgsub(name, "%.lua$", "")
    if not name_ok(name) then
      fail_at(d.line, d.label, "cannot make a name from the path; give name = \"...\"")
    end
  else
    name_at(d, { "name" }, name)
  end
  local first = st.seen.plugin[name]
  if first then
    fail_at(d.line, d.label, sformat(
      'name %s is used twice (first at line %d); give one of them name = "..."',
      quote(name), first.line))
  end
  st.seen.plugin[name] = d
  local times = {}
  for _, k in ipairs({ "from", "to" }) do
    local v = t[k]
    if v ~= nil then
      local secs = type(v) == "string" and #v < 64 and not sfind(v, "\0", 1, true)
                   and parse_time(v)
      if not secs then bad(d, { k }, "must be " .. TIME_RULE .. ", got " .. describe(v)) end
      times[k] = secs
    end
  end
  if times.from and times.to and times.from >= times.to then
    bad(d, { "to" }, sformat("must be later than from (%s), got %s", describe(t.from), describe(t.to)))
  end
  local budget = sub(d, t, "budget", { "points", "cents", "uses" })
  local pl = {
    name = name, path = d.name, source = src,
    from = times.from or NULL, to = times.to or NULL,
    budget_points = opt_int(d, budget, { "budget" }, "points", 0, nil, NULL),
    budget_cents = opt_int(d, budget, { "budget" }, "cents", 0, nil, NULL),
    budget_uses = opt_int(d, budget, { "budget" }, "uses", 0, nil, NULL),
    instructions = opt_int(d, t, {}, "instructions", 1, nil, 1000000),
    memory_bytes = opt_int(d, t, {}, "memory_kb", 1, 1048576, 8192) * 1024,
  }
  local reserved = {}
  for _, k in ipairs(PLUGIN_RESERVED) do reserved[k] = true end
  local keys = {}
  for k in pairs(t) do
    if not reserved[k] then keys[#keys + 1] = k end
  end
  tsort(keys)
  local params = setmetatable({}, OBJECT)
  for _, k in ipairs(keys) do
    if not utf8len(k) or sfind(k, "\0", 1, true) then
      bad(d, {}, "has a parameter name that is not valid text: " .. describe(k))
    end
    params[k] = json_value(d, { k }, t[k], 1)
  end
  pl.params = params
  st.out.plugins[#st.out.plugins + 1] = pl
end

function V.plan(d, st)
  decl_name(d, st, "plan")
  local t = d.body
  check_keys(d, {}, t, { "price_cents", "every", "count", "trial_days", "program", "twin" })
  local pl = { name = d.name, program = NULL, twin = NULL }
  pl.price_cents = req_int(d, t, {}, "price_cents", 0)
  if t.every == nil then
    bad(d, { "every" }, 'is required ("day", "week", "month" or "year")')
  end
  pl.every = enum_at(d, { "every" }, t.every, { "day", "week", "month", "year" })
  pl.count = opt_int(d, t, {}, "count", 1, 1000, 1)
  pl.trial_days = opt_int(d, t, {}, "trial_days", 0, MAX_DAYS, 0)
  local prog = opt_name(d, t, {}, "program")
  if prog then
    pl.program = declared(d, { "program" }, prog, st.programs, st.program_names, "program")
  end
  local twin = opt_name(d, t, {}, "twin")
  if twin then
    if twin == d.name then bad(d, { "twin" }, "must name another plan, not this one") end
    pl.twin = declared(d, { "twin" }, twin, st.plans, st.plan_names, "plan")
  end
  st.out.plans[#st.out.plans + 1] = pl
end

function V.dunning(d, st)
  if st.dunning_decl then
    fail_at(d.line, d.label, sformat("declared twice (first at line %d)", st.dunning_decl.line))
  end
  st.dunning_decl = d
  local t = d.body
  check_keys(d, {}, t, { "retry_days", "grace_days", "final", "max_retries" })
  local retry = { 1, 3, 5, 7 }
  if t.retry_days ~= nil then
    local n = list_at(d, { "retry_days" }, t.retry_days, "days")
    if n > 16 then bad(d, { "retry_days" }, sformat("may hold at most 16 days, got %d", n)) end
    retry = {}
    for i = 1, n do
      local v = int_at(d, { "retry_days", i }, t.retry_days[i], 1, MAX_DAYS)
      if i > 1 and v <= retry[i - 1] then
        bad(d, { "retry_days", i }, sformat(
          "must be greater than retry_days[%d] (%d): days ascend, got %d", i - 1, retry[i - 1], v))
      end
      retry[i] = v
    end
  end
  local final = "suspend"
  if t.final ~= nil then final = enum_at(d, { "final" }, t.final, { "suspend", "cancel" }) end
  st.dunning = {
    retry_days = retry,
    grace_days = opt_int(d, t, {}, "grace_days", 0, MAX_DAYS, 10),
    final_action = final,
    max_retries = opt_int(d, t, {}, "max_retries", 0, 1000, #retry),
  }
end

---------------------------------------------------------------- the DSL

local function named(kind, example)
  return function(name)
    local line = caller_line()
    if type(name) ~= "string" then
      fail_at(line, kind, "expects a name first, as in " .. example .. ", got " .. describe(name))
    end
    local d = { kind = kind, name = name, line = line, label = kind .. " " .. quote(name) }
    decls[#decls + 1] = d
    return function(body)
      if d.body ~= nil then fail_at(caller_line(), d.label, "already has its { ... }") end
      if type(body) ~= "table" then
        fail_at(caller_line(), d.label, "expects a table { ... } after the name, got " .. describe(body))
      end
      d.body = body
    end
  end
end

local function plain(kind, example)
  return function(body)
    local line = caller_line()
    if type(body) ~= "table" then
      fail_at(line, kind, "expects a table, as in " .. example .. ", got " .. describe(body))
    end
    decls[#decls + 1] = { kind = kind, line = line, label = kind, body = body }
  end
end

local DSL = {
  shop = plain("shop", 'shop { currency = "EUR" }'),
  program = named("program", 'program "default" { ... }'),
  bundle = named("bundle", 'bundle "kit" { skus = { "A", "B" }, off_bp = 1000 }'),
  free_shipping = plain("free_shipping", "free_shipping { threshold_cents = 5000, shipping_cents = 499 }"),
  plugin = named("plugin", 'plugin "plugins/cross_sell.lua" { ... }'),
  plan = named("plan", 'plan "pro-monthly" { price_cents = 1000, every = "month" }'),
  dunning = plain("dunning", "dunning { retry_days = { 1, 3, 5, 7 } }"),
}
local DSL_NAMES = "shop, program, bundle, free_shipping, plugin, plan, dunning"

local function copy(lib, without)
  local c = {}
  for k, v in pairs(lib) do
    if not (without and without[k]) then c[k] = v end
  end
  return c
end

-- The environment shop.lua runs in (C sets it as the chunk's _ENV).
function M.begin(name, source)
  FILE, SOURCE = name, source
  local visible = copy(DSL)
  visible.string = copy(string, { dump = true, find = true, match = true,
                                  gmatch = true, gsub = true })
  -- string.rep and table.move loop inside one C call, out of the budget's
  -- reach, even when they make nothing: bound those cases
  visible.string.rep = function(str, n, sep)
    if str == "" and (sep == nil or sep == "") and tonumber(n) then return "" end
    return srep(str, n, sep)
  end
  STRING_MT.__index = visible.string     -- ("x"):find(...) is gone as well
  visible.table = copy(table)
  visible.table.move = function(a1, f, e, t, a2)
    local nf, ne = tonumber(f), tonumber(e)
    if nf and ne and ne - nf > 1e7 then
      error("table.move: more than 10000000 elements", 2)
    end
    return tmove(a1, f, e, t, a2)
  end
  visible.math = copy(math, { random = true, randomseed = true })
  visible.utf8 = copy(utf8)
  for _, k in ipairs({ "assert", "error", "ipairs", "next", "pairs", "pcall",
                       "rawequal", "rawget", "rawlen", "select", "tonumber",
                       "tostring", "type", "xpcall" }) do
    visible[k] = _G[k]
  end
  visible._VERSION = _VERSION
  return setmetatable({}, {
    __index = function(_, k)
      local v = visible[k]
      if v ~= nil then return v end
      error(sformat("undeclared global '%s' (the declarations are %s)", tostring(k), DSL_NAMES), 2)
    end,
    __newindex = function(env, k, v)
      if DSL[k] ~= nil then
        error(sformat("cannot assign to '%s': it is a declaration", tostring(k)), 2)
      end
      rawset(env, k, v)
    end,
    __metatable = false,
  })
end

-- Validates everything declared; returns the canonical table.
function M.finish()
  local st = {
    programs = {}, program_names = {}, plans = {}, plan_names = {},
    seen = { program = {}, bundle = {}, plan = {}, plugin = {}, free_shipping = {} },
    out = { programs = {}, bundles = {}, free_shipping = {}, plugins = {}, plans = {} },
  }
  for _, d in ipairs(decls) do
    if d.kind == "program" and type(d.name) == "string" and not st.programs[d.name] then
      st.programs[d.name] = d
      st.program_names[#st.program_names + 1] = d.name
    elseif d.kind == "plan" and type(d.name) == "string" and not st.plans[d.name] then
      st.plans[d.name] = d
      st.plan_names[#st.plan_names + 1] = d.name
    end
  end
  for _, d in ipairs(decls) do
    if d.body == nil then
      fail_at(d.line, d.label, "has no { ... }: write " .. d.label .. " { ... }")
    end
    V[d.kind](d, st)
  end
  if not st.shop then fail_at(1, "shop", 'not declared: add shop { currency = "EUR" }') end
  if #st.program_names == 0 then
    fail_at(1, "program", 'none declared: add program "default" { ... }')
  end
  local default = st.default_program
  if not default then
    default = st.programs.default and "default" or st.program_names[1]
  end
  return {
    shop = st.shop,
    default_program = default,
    programs = st.out.programs,
    bundles = st.out.bundles,
    free_shipping = st.out.free_shipping,
    plugins = st.out.plugins,
    plans = st.out.plans,
    dunning = st.dunning or { retry_days = { 1, 3, 5, 7 }, grace_days = 10,
                              final_action = "suspend", max_retries = 4 },
  }
end

return M
