#!/usr/bin/env bash
# Checks the running API against its OpenAPI document with schemathesis:
# a `herald serve --role api` on a temporary SQLite file (no delivery
# workers, so nothing is ever sent anywhere), an administrator token, every
# route and method, the standard checks, and at least a few thousand
# requests past authentication (counted by Herald's own metrics). Exits
# non-zero on any finding.
#
#   scripts/schemathesis.sh [path/to/herald]     (default: target/debug/herald)
#
# Needs `pip install schemathesis==4.32.5` (the version .ci/run pins).
set -euo pipefail
cd "$(dirname "$0")/.."
herald=$(realpath "${1:-${CARGO_TARGET_DIR:-target}/debug/herald}")
examples="${SCHEMATHESIS_MAX_EXAMPLES:-50}"
minimum_requests="${SCHEMATHESIS_MIN_REQUESTS:-3000}"

work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

database="sqlite://$work/herald.db"
token=$("$herald" token create --account wdc --role administrator --database "$database" 2>/dev/null)
# --role api: no delivery worker, so no webhook the run makes is ever sent
# to; loopback and private targets stay refused (no --allow-private-targets).
HERALD_LOG=warn,herald=info "$herald" serve --database "$database" --data-dir "$work" --role api \
  --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
  --rate-limit 0 --verify-rate-limit 0 \
  2> "$work/herald.log" &
pid=$!
api=""
metrics=""
for _ in $(seq 1 100); do
  api=$(sed -n 's/.*herald listening address=\([^ ]*\).*/\1/p' "$work/herald.log" | head -n 1)
  metrics=$(sed -n 's/.*metrics listening address=\([^ ]*\).*/\1/p' "$work/herald.log" | head -n 1)
  [ -n "$api" ] && [ -n "$metrics" ] && break
  sleep 0.1
done
if [ -z "$api" ] || [ -z "$metrics" ]; then
  cat "$work/herald.log" >&2
  echo "herald did not start" >&2
  exit 1
fi

started=$(date +%s)
status=0
# One run of schemathesis with the given phases and operation filters, in the
# temporary folder (schemathesis keeps a cache where it runs). The account
# header is the token's own: generated values for it would only meet 401.
check() {
  local phases=$1
  shift
  (cd "$work" && python3 -m schemathesis.cli run "http://$api/v1/openapi.json" \
    --url "http://$api" \
    --header "Authorization: Bearer $token" \
    --header "X-R-Service-Account: wdc" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --phases "$phases" \
    --max-examples "$examples" \
    --seed 25 \
    --workers 1 \
    --request-timeout 10 \
    --suppress-health-check too_slow,filter_too_much \
    --report junit --report-dir "$work/report" "$@") || status=$?
}
# Revoking a token is checked last and alone: the run's boundary values
# include the run's own token id, and once it is revoked every later
# request would only meet 401.
revoke="DELETE /v1/api_tokens/{id}"
check examples,coverage,fuzzing,stateful --exclude-name "$revoke"
check examples,coverage,fuzzing --include-name "$revoke"
elapsed=$(( $(date +%s) - started ))

python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' "http://$metrics/metrics" \
  | grep '^herald_http_requests_total' > "$work/requests.txt" || true
requests=$(awk '{ total += $NF } END { printf "%d", total }' "$work/requests.txt")
unauthorized=$(awk '/status="401"/ { total += $NF } END { printf "%d", total }' "$work/requests.txt")
echo "schemathesis: $requests requests to Herald in ${elapsed}s, $unauthorized answered 401 (schemathesis exit $status)"
echo "by status:" $(sed -n 's/.*status="\([0-9]*\)".* \([0-9.e+]*\)$/\1 \2/p' "$work/requests.txt" \
  | awk '{ n[$1] += $2 } END { for (s in n) printf "%s=%d ", s, n[s] }')
if grep -q ' ERROR ' "$work/herald.log"; then
  grep ' ERROR ' "$work/herald.log" >&2
  echo "herald logged errors during the run" >&2
  status=1
fi
if [ $(( requests - unauthorized )) -lt "$minimum_requests" ]; then
  echo "fewer than $minimum_requests requests got past authentication: the run did not cover enough" >&2
  status=1
fi
exit "$status"
