#!/usr/bin/env bash
# config.sh -- init, apply and config show through the patron command:
# the demo shop applies as version 1, applying it again changes nothing, a
# changed file becomes version 2, bad files are refused (exit 1) with
# file:line and the key in the message and nothing changed, and config show
# prints the active or an older version as indented JSON.
. "$(dirname "$0")/lib.sh"

shop=$SHOP/shop.lua

check_exit "init" 0 patron init
check_match "... says where and which schema version" "$OUT" "^created $db \(schema version [1-9][0-9]*, patron [0-9.]+\)\$"
check_exit "config show before any apply: exit 1" 1 patron config show
check_json "... no_config" "$OUT" .error.code no_config

check_exit "apply the demo shop" 0 patron apply "$shop"
check_eq "... is version 1, changed" "$OUT" '{"version":1,"changed":true}'
check_exit "apply it again" 0 patron apply "$shop"
check_eq "... changes nothing" "$OUT" '{"version":1,"changed":false}'

if command -v script >/dev/null 2>&1; then
  script -qec "'$PATRON' --db '$db' apply '$shop' </dev/null" typescript >/dev/null 2>&1
  check_match "on a terminal apply adds a sentence" "$(tr -d '\r' <typescript)" \
    'is identical to the active config version 1: nothing changed$'
else
  pass "on a terminal apply adds a sentence # SKIP script(1) not installed"
fi

# --- bad files: refused, exit 1, file:line and key; nothing changes -----------
cat >bad_key.lua <<'EOF'
shop { currency = "EUR" }
-- the next line has a key the language does not know
program "default" { earn = { points_per_unit = 1 }, colour = "blue" }
EOF
check_exit "a config with an unknown key: exit 1" 1 patron apply bad_key.lua
check_json "... invalid_config" "$OUT" .error.code invalid_config
check_match "... the message names file and line" "$OUT" 'bad_key\.lua:3'
check_match "... and the key" "$OUT" 'colour'

cat >bad_type.lua <<'EOF'
shop { currency = "EUR" }
program "default" {
  earn = { points_per_unit = "one" },
}
EOF
check_exit "a config with a wrong type: exit 1" 1 patron apply bad_type.lua
check_json "... invalid_config" "$OUT" .error.code invalid_config
check_match "... names file, line and key" "$OUT" 'bad_type\.lua:3.*points_per_unit'

cat >bad_syntax.lua <<'EOF'
shop { currency = "EUR" }
program "default" {
  earn = { points_per_unit = 1
}
EOF
check_exit "a config that is not valid Lua: exit 1" 1 patron apply bad_syntax.lua
check_json "... invalid_config" "$OUT" .error.code invalid_config
check_match "... names the file and a line" "$OUT" 'bad_syntax\.lua:[0-9]+'

check_exit "apply of a missing file fails" 3 patron apply nowhere.lua
check_json "... with an io error naming it" "$OUT" '[.error.code, (.error.message | contains("nowhere.lua"))] | @csv' '"io",true'

check_exit "after the refusals the demo shop is still active" 0 patron apply "$shop"
check_eq "... as version 1, unchanged" "$OUT" '{"version":1,"changed":false}'

# --- a changed file is a new version -----------------------------------------
mkdir changed
cp "$shop" changed/shop.lua
printf '\nbundle "test-kit" { skus = { "COF-01", "MUG-01" }, off_bp = 1000 }\n' >>changed/shop.lua
check_exit "apply a changed copy (plugins resolve from patron's folder)" 0 patron apply changed/shop.lua
check_eq "... is version 2, changed" "$OUT" '{"version":2,"changed":true}'

# --- config show -----------------------------------------------------------------
check_exit "config show" 0 patron config show
show=$OUT
check_json "... is JSON" "$show" 'type' object
check_match "... indented, one key per line" "$(sed -n 2p <<<"$show")" '^  "'
check_json "... shows the active version (with the new bundle)" "$show" \
  '[.bundles[].name] | index("test-kit") != null' true
check_json "... the default program" "$show" .default_program default
check_json "... which expires points after 12 months" "$show" \
  '.programs[] | select(.name == "default") | .expiry_months' 12
check_json "... with notices 30 days before" "$show" \
  '.programs[] | select(.name == "default") | .expiry_notice_days' 30
check_json "... and the shop's currency" "$show" .shop.currency EUR

check_exit "config show --version 1" 0 patron config show --version 1
check_json "... is the version without the bundle" "$OUT" '[.bundles[].name] | index("test-kit") == null' true
check_exit "config show --version 99: exit 1" 1 patron config show --version 99
check_json "... not_found" "$OUT" .error.code not_found
check_exit "config show --version abc: exit 2" 2 patron config show --version abc

done_testing
