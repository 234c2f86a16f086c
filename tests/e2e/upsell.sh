#!/usr/bin/env bash
# upsell.sh -- rules see the customer's subscriptions: annual_upsell offers
# a monthly subscriber the annual twin with its saving, and nobody else.
. "$(dirname "$0")/lib.sh"

{ cat "$SHOP/shop.lua"; echo 'plugin "plugins/annual_upsell.lua" {}'; } >shop.lua
patron init >/dev/null
check_exit "apply the demo shop with annual_upsell" 0 patron apply shop.lua
patron --now 2026-03-01 customers import "$SHOP/customers.csv" >/dev/null
check_exit "C3 subscribes to pro-monthly" 0 patron --now 2026-03-01 sub create --customer C3 --plan pro-monthly
cart='{"customer":"C3","lines":[{"sku":"COF-01","qty":1,"unit_cents":1290}]}'
check_exit "quote for the subscriber" 0 patron --now 2026-03-02 quote < <(echo "$cart")
check_json "... offers the annual plan with its saving" "$OUT" '.messages[0]' \
  "Switch to pro-annual: 102.00 a year, save 18.00 (15%) against 12 x pro-monthly"
check_exit "quote for a customer without a subscription" 0 patron --now 2026-03-02 quote < <(
  echo '{"customer":"C4","lines":[{"sku":"COF-01","qty":1,"unit_cents":1290}]}')
check_json "... no upsell" "$OUT" '[.messages[] | select(startswith("Switch"))] | length' 0
done_testing
