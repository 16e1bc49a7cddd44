#!/bin/sh
# docker-compose's one-shot `es-service-token`: waits for Elasticsearch, creates a service token
# for the elastic/fleet-server service account through the security API and writes its value to
# $TOKEN_FILE (a volume the Fleet services mount read-only as /run/fleet-es). A token that still
# authenticates is kept, so `docker compose up` can be run again. The token is never printed.
#
# Environment: ELASTIC_PASSWORD (required), ES_URL, ES_CA_FILE (the CA of an https ES_URL; without
# it, the system CAs), TOKEN_FILE, TOKEN_NAME, TOKEN_OWNER (uid:gid of the services' user, which
# must read the file).
set -eu
ES_URL="${ES_URL:-https://elasticsearch:9200}"
# Every curl below checks Elasticsearch's certificate against ES_CA_FILE when it is set.
if [ -n "${ES_CA_FILE:-}" ]; then set -- --cacert "$ES_CA_FILE"; else set --; fi
TOKEN_FILE="${TOKEN_FILE:-/run/fleet-es/fleet-es-service-token}"
TOKEN_NAME="${TOKEN_NAME:-fleet-server-compose}"
TOKEN_OWNER="${TOKEN_OWNER:-1000:1000}"
auth="elastic:${ELASTIC_PASSWORD:?ELASTIC_PASSWORD must be set}"
api="$ES_URL/_security/service/elastic/fleet-server/credential/token/$TOKEN_NAME"

tries=0
until curl "$@" -fs -o /dev/null -u "$auth" "$ES_URL/_cluster/health?wait_for_status=yellow&timeout=5s"; do
  tries=$((tries + 1))
  if [ "$tries" -ge 90 ]; then echo "Elasticsearch at $ES_URL did not become ready" >&2; exit 1; fi
  sleep 2
done

if [ -s "$TOKEN_FILE" ] &&
  curl "$@" -fs -o /dev/null -H "Authorization: Bearer $(cat "$TOKEN_FILE")" "$ES_URL/_security/_authenticate"; then
  echo "service token in $TOKEN_FILE still authenticates; kept"
  exit 0
fi

# A token of this name left by an earlier run (whose volume is gone) is replaced.
curl "$@" -sS -o /dev/null -u "$auth" -X DELETE "$api" || true
answer="$(curl "$@" -fsS -u "$auth" -X POST "$api")"
value="$(printf '%s' "$answer" | sed -n 's/.*"value" *: *"\([^"]*\)".*/\1/p')"
if [ -z "$value" ]; then echo "no token value in Elasticsearch's answer" >&2; exit 1; fi

umask 077
printf '%s' "$value" > "$TOKEN_FILE.tmp"
chown "$TOKEN_OWNER" "$TOKEN_FILE.tmp"
mv "$TOKEN_FILE.tmp" "$TOKEN_FILE"
echo "service token $TOKEN_NAME written to $TOKEN_FILE"
