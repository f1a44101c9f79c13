#!/bin/sh
# The cluster's HTTP API with curl. GW_API_URL (default http://127.0.0.1:8790) and
# GW_API_KEY (its key) from the environment:
#
#   GW_API_KEY=... sh examples/http/curl.sh "some text"
set -eu
API="${GW_API_URL:-http://127.0.0.1:8790}/api/v1"
AUTH="Authorization: Bearer ${GW_API_KEY:?set GW_API_KEY}"
TEXT="${1:-hello from curl}"

# to every connected page (an object is sent as its JSON text)
curl -sS --fail-with-body -H "$AUTH" -H 'Content-Type: application/json' \
    -d "{\"message\": {\"action_type\": \"notice\", \"content\": \"$TEXT\"}}" "$API/send_to_all"
echo

# how many are online: {"result": N, "missing": [gateways that did not answer]}
curl -sS --fail-with-body -H "$AUTH" -X POST "$API/get_all_client_id_count"
echo

# several calls in one request, done in order; one reply each
curl -sS --fail-with-body -H "$AUTH" -H 'Content-Type: application/json' -d '[
  {"call": "send_to_group", "args": {"group": "room-1", "message": "hi room-1"}},
  {"call": "get_client_id_count_by_group", "args": {"group": "room-1"}}
]' "$API/batch"
echo

# a refused call: 400, which argument and why (curl exits 22 with --fail-with-body)
curl -sS -H "$AUTH" -d '{"group": 0}' -w ' (HTTP %{http_code})' "$API/ungroup"
echo
