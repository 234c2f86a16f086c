#!/usr/bin/env bash
# rules.sh -- the rule tools through the patron command: `rules test` (a
# plugin alone against a cart: its actions and their fate, the trace,
# warnings, ctx.log lines; params, a customer file, a catalog; a failing
# plugin exits 1 with its error), `rules check` (a clean file, typos with
# file:line, syntax errors, several files), and `report budgets` after
# commits and a refund on a shop with a budgeted campaign.
. "$(dirname "$0")/lib.sh"

FIX=$PATRON_ROOT/tests/unit/fixtures/rules
cat >cart.json <<'JSON'
{"program":"default","customer":"C1","at":"2026-11-23T12:00:00Z",
 "lines":[{"sku":"COF-01","qty":2,"unit_cents":899,"category":"coffee"},
          {"sku":"MUG-01","qty":1,"unit_cents":1299,"category":"mugs"},
          {"sku":"MP3-01","qty":1,"unit_cents":4999,"category":"mp3"}]}
JSON
printf 'sku,name,price_cents,category,popularity,tags\nHP-07,Headphones,2999,headphones,40,"a; b"\nMUG-01,Mug,1299,mugs,50,\n' >catalog.csv

# --- rules test ------------------------------------------------------------------
check_exit "rules test runs a plugin without a shop" 0 \
  patron rules test "$FIX/sample.lua" --cart cart.json --catalog catalog.csv --param bonus=25
check_json "... ok" "$OUT" .ok true
check_json "... its actions in order, with what became of each" "$OUT" \
  '[.actions[] | .hook + ":" + .action + ":" + .result] | join(",")' \
  "on_quote:discount:applied,on_quote:suggest:applied,on_earn:bonus_points:applied"
check_json "... the discount as decoded" "$OUT" '.actions[0] | [.bp, .skus[0]] | @csv' '1000,"MUG-01"'
check_json "... the param reached the plugin" "$OUT" .actions[2].points 25
check_json "... its trace steps" "$OUT" '[.trace[].source] | unique | join(",")' "plugin:sample"
check_json "... its ctx.log lines" "$OUT" '.log[0]' "$FIX/sample.lua: lines: 3"
check_json "... and the quote" "$OUT" .quote.discount_cents 129
check_json "... with the suggestion" "$OUT" .quote.suggestions[0].sku HP-07
check_json "... no warnings" "$OUT" '.warnings | length' 0
check_exit "rules test without the catalog" 0 patron rules test "$FIX/sample.lua" --cart cart.json
check_json "... warns of the unknown sku" "$OUT" '.warnings[0]' "plugin sample: suggest: unknown sku HP-07"
check_json "... and says why the action was dropped" "$OUT" '.actions[1].result' "suggest: unknown sku HP-07"
check_exit "--param takes JSON values" 0 \
  patron rules test "$FIX/sample.lua" --cart cart.json --param pct_bp=5000 --param=bonus=1
check_json "... 50% off the mug" "$OUT" .quote.discount_cents 649

echo '{"tier":"gold","points":1200,"order_count":7,"lifetime_cents":0,"bought":["COF-01"],"declined":["HP-07"]}' >c.json
check_exit "rules test with a customer file" 0 \
  patron rules test "$FIX/views.lua" --cart cart.json --customer-file c.json --catalog catalog.csv \
  --param max=3 --param 'pairs=[["mp3","headphones"]]'
check_json "... ctx.customer has its fields and answers from its lists" "$OUT" \
  '[.actions[] | select(.action == "message") | .text | select(startswith("customer"))][0]' \
  "customer C1 7 0 true false true nil"

printf '{"customer":"C1","at":"2026-11-23T12:00:00Z","lines":[{"sku":"BOMB","qty":1,"unit_cents":100,"category":"x"}]}\n' >bomb.json
check_exit "a plugin that loops: exit 1" 1 patron rules test "$FIX/loop.lua" --cart bomb.json
check_json "... not ok" "$OUT" .ok false
check_match "... with the budget error at the line" "$(jq -r .error <<<"$OUT")" \
  'instruction budget exceeded at .*loop\.lua:5$'
printf '{"customer":"C1","at":"2026-11-23T12:00:00Z","lines":[{"sku":"REP","qty":1,"unit_cents":100}]}\n' >rep.json
check_exit "a plugin that asks for too much memory (string.rep): exit 1" 1 \
  patron rules test "$FIX/memory.lua" --cart rep.json --param memory_kb=1024
check_json "... memory cap exceeded" "$OUT" .error "memory cap exceeded (1024 KiB)"
check_exit "garbage actions: exit 0, each dropped with a warning" 0 \
  patron rules test "$FIX/garbage.lua" --cart bomb.json
check_json "... one warning each" "$OUT" '.warnings | length' 23
check_json "... and their results" "$OUT" '.actions[0].result' \
  "discount: cents must be an integer, got the float 1.5"

check_exit "a missing plugin file: exit 1" 1 patron rules test nope.lua --cart cart.json
check_json "... invalid_config" "$OUT" .error.code invalid_config
check_exit "a cart that is not JSON: exit 1" 1 patron rules test "$FIX/sample.lua" --cart catalog.csv
check_json "... invalid_json" "$OUT" .error.code invalid_json
check_exit "--cart is required: exit 2" 2 patron rules test "$FIX/sample.lua"
check_exit "--param without =: exit 2" 2 patron rules test "$FIX/sample.lua" --cart cart.json --param x
check_exit "--now gives the time of a cart without one" 0 \
  patron --now 2026-12-24T10:00:00Z rules test "$FIX/views.lua" --cart <(jq -c 'del(.at)' cart.json) \
  --catalog catalog.csv --param max=1 --param 'pairs=[["a","b"]]'
check_json "... ctx.today" "$OUT" \
  '[.actions[] | select(.action == "message") | .text | select(startswith("ctx"))][0] | split(" ")[1]' \
  2026-12-24

# --- rules check ------------------------------------------------------------------
check_exit "rules check of a clean plugin" 0 patron rules check "$FIX/sample.lua"
check_eq "... prints ok" "$OUT" "$FIX/sample.lua: ok"
cp "$FIX/typo.lua" typo.lua
check_exit "rules check of a plugin with typos: exit 1" 1 patron rules check typo.lua
check_match "... the misspelt hook, with its line" "$OUT" "^typo.lua:5: unknown hook 'on_qoute'"
check_match "... print, which rules do not have" "$OUT" "^typo.lua:9: unknown name 'print' called"
check_match "... the misspelt action, with a suggestion" "$OUT" \
  "^typo.lua:10: unknown name 'discout' called.*did you mean 'discount'"
check_eq "... three problems" "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 3
printf 'local rule = {}\nfunction rule.on_quote(cart)\n  return {\nend\nreturn rule\n' >syntax.lua
check_exit "a syntax error: exit 1" 1 patron rules check syntax.lua
check_match "... at its line" "$OUT" '^syntax.lua:4: '
printf 'return 42\n' >notable.lua
check_exit "a file that returns no table: exit 1" 1 patron rules check notable.lua
check_match "... says so" "$OUT" 'must return a table of hooks'
check_exit "several files: exit 1 if any has a problem" 1 \
  patron rules check "$FIX/sample.lua" typo.lua
check_match "... the clean one is ok" "$OUT" "sample.lua: ok"
check_exit "a file that does not exist: exit 1" 1 patron rules check nope.lua
check_exit "rules check needs a file: exit 2" 2 patron rules check
check_exit "help rules check" 0 patron help rules check
check_exit "help rules test" 0 patron help rules test

# --- report budgets ----------------------------------------------------------------
patron init >/dev/null
cat >shop.lua <<LUA
shop { currency = "EUR" }
program "default" {}
plugin "$FIX/campaign.lua" { budget = { cents = 1100, uses = 10 } }
plugin "$FIX/sample.lua" {}
LUA
check_exit "apply a shop with a budgeted campaign" 0 patron apply shop.lua
for n in 1 2 3; do
  jq -c --arg id "O$n" '. + {order_id: $id}' cart.json >o.json
  check_exit "commit O$n" 0 patron commit o.json
done
check_json "... the third order no longer gets the campaign" "$OUT" \
  '[.discounts[].source] | join(",")' "plugin:sample"
check_json "... and says why" "$OUT" \
  '[.warnings[] | select(. == "plugin campaign: budget spent")] | length' 1
check_json "... it still gives its bonus points (no points budget): a use" "$OUT" \
  '[.trace[] | select(.source == "plugin:campaign") | .points] | add' 100
check_exit "report budgets --format json" 0 patron report budgets --format json
check_json "... spent, left and uses of the campaign" "$OUT" \
  '.[0] | [.plugin, .budget_cents, .spent_cents, .left_cents, .spent_uses] | @csv' \
  '"campaign",1100,1000,100,3'
check_json "... and the unbudgeted plugin" "$OUT" \
  '.[1] | [.plugin, .budget_cents, .left_cents, .spent_cents] | @csv' '"sample",,,371'
check_exit "refund O1" 0 patron refund --order O1
check_exit "report budgets after the refund" 0 patron report budgets --format json
check_json "... the budget came back" "$OUT" '.[0] | [.spent_cents, .spent_points, .spent_uses] | @csv' '500,200,2'
check_exit "report budgets --format csv" 0 patron report budgets --format csv
check_eq "... header" "$(head -1 <<<"$OUT")" \
  "plugin,active,budget_cents,spent_cents,left_cents,budget_points,spent_points,left_points,budget_uses,uses,left_uses"
check_eq "... campaign row" "$(sed -n 2p <<<"$OUT")" "campaign,yes,1100,500,600,,200,,10,2,8"
check_exit "report budgets --format table" 0 patron report budgets --format table
check_match "... aligned" "$OUT" '^campaign +yes +1100 +500 +600'
check_exit "report budgets --format xml: exit 2" 2 patron report budgets --format xml

done_testing
