#!/usr/bin/env bash
# Calling `charter serve` with curl: every endpoint once.
#
#   charter serve policies --facts examples/requests/facts.json --token-file token.txt &
#   CHARTER_TOKEN=$(cat token.txt) examples/clients/curl.sh
#
# CHARTER_URL defaults to the server's default address, http://127.0.0.1:8877.
set -euo pipefail
url="${CHARTER_URL:-http://127.0.0.1:8877}"
auth=(-H "Authorization: Bearer ${CHARTER_TOKEN:-}")
json=(-H "Content-Type: application/json")

echo "== one decision: may bank-001 compute on two fields of the enterprise tax data?"
curl -sS "${json[@]}" "$url/v1/decide" -d '{
  "developer": "bank-001", "action": "privacy_compute", "dataset": "tax.enterprise_tax",
  "fields": ["credit_code", "total_tax_amount"], "scenario": "普惠金融",
  "at": "2026-06-01T09:00:00+08:00", "purpose": "小微企业授信审批",
  "consent": {"granted": true, "reference": "SQ-2026-000101"}}'
echo

echo "== a batch: answers come back in order"
curl -sS "${json[@]}" "$url/v1/decide/batch" -d '{"requests": [
  {"developer": "bank-001", "action": "statistics", "dataset": "tax.enterprise_tax",
   "fields": ["legal_rep_id"], "scenario": "普惠金融", "at": "2026-06-01"},
  {"developer": "bank-002", "action": "verify", "dataset": "market.enterprise_registration",
   "fields": ["credit_code"], "scenario": "普惠金融", "at": "2026-06-01"}]}'
echo

echo "== a malformed request is a 400 naming the field (here a misspelt key)"
curl -sS "${json[@]}" "$url/v1/decide" -d '{"developer": "bank-001", "feilds": []}' || true
echo

echo "== sweep: which exit and suspend rules fire for bank-002 today?"
curl -sS "${json[@]}" "$url/v1/sweep" -d '{"developer": "bank-002"}'
echo

echo "== the fact store: read, change one fact (needs the token), read again"
curl -sS "$url/v1/facts/developers/bank-003"
echo
curl -sS -X PATCH "${auth[@]}" "${json[@]}" "$url/v1/facts/developers/bank-003" \
  -d '{"agreement_expires": "2029-12-31"}'
echo

echo "== status, health, metrics"
curl -sS "$url/v1/bundle"
echo
curl -sS "$url/healthz"; echo
curl -sS "$url/readyz"; echo
curl -sS "$url/metrics" | grep -E '^charter_(decisions_total|bundle_info|log_queue_depth)'

echo "== admin: reload from source, roll back (both need the token)"
curl -sS -X POST "${auth[@]}" "$url/v1/admin/reload"; echo
curl -sS -X POST "${auth[@]}" "$url/v1/admin/rollback" || true; echo
