#!/usr/bin/env bash
# Curl-only smoke test of a running PlanExe server.
#
#   scripts/smoke.sh [BASE_URL]        (default http://127.0.0.1:8000)
#
# Submits a plan, polls it to completion, reads its event stream and report,
# lists its files, exports it (Markdown, CSV, zip), regenerates one of its
# sections, then submits a second plan, cancels it and resumes it, and deletes both.
# Set PLANEXE_API_TOKEN if the server requires one. Exits non-zero on failure.
set -euo pipefail

BASE=${1:-${PLANEXE_URL:-http://127.0.0.1:8000}}
TIMEOUT_S=${SMOKE_TIMEOUT_S:-300}
AUTH=()
[ -n "${PLANEXE_API_TOKEN:-}" ] && AUTH=(-H "Authorization: Bearer ${PLANEXE_API_TOKEN}")

say() { printf '%s\n' "$*"; }
fail() { say "FAIL: $*" >&2; exit 1; }
api() { curl -sS --fail-with-body "${AUTH[@]}" "$@"; }
field() { # crude JSON field extraction, enough for flat string fields and "status"
  sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" | head -n 1
}

say "== health: $BASE"
api "$BASE/healthz" >/dev/null || fail "server not reachable at $BASE"
ready=$(api "$BASE/readyz")
grep -q '"ready"' <<<"$ready" || fail "server not ready (database or schema)"

say "== submit a plan"
created=$(api -X POST "$BASE/plans" -H 'Content-Type: application/json' \
  -H "Idempotency-Key: smoke-$$-$(date +%s)" \
  -d '{"prompt": "Open a small bakery in Copenhagen", "detail": "fast"}')
id=$(printf '%s' "$created" | field id)
[ -n "$id" ] || fail "no plan id in: $created"
say "plan $id queued"

wait_end() { # poll plan $1 until it ends; sets $status and $plan
  local deadline=$(( $(date +%s) + TIMEOUT_S ))
  status=queued
  while [ "$(date +%s)" -lt "$deadline" ]; do
    plan=$(api "$BASE/plans/$1")
    status=$(printf '%s' "$plan" | field status)
    done_n=$(printf '%s' "$plan" | sed -n 's/.*"done":\([0-9]*\).*/\1/p')
    total=$(printf '%s' "$plan" | sed -n 's/.*"total":\([0-9]*\).*/\1/p')
    say "  $status ${done_n:-0}/${total:-?}"
    case "$status" in completed|failed|cancelled) return ;; esac
    sleep 1
  done
}

say "== poll until it ends"
wait_end "$id"
[ "$status" = completed ] || fail "plan ended $status: $plan"

say "== event stream (SSE) to its end"
events=$(curl -sS -N --max-time 60 "${AUTH[@]}" "$BASE/plans/$id/events")
grep -q '^event: task_succeeded' <<<"$events" || fail "no task events in the stream"
grep -q '^event: end' <<<"$events" || fail "the stream did not end"
say "  $(grep -c '^event: ' <<<"$events") events"
last=$(sed -n 's/^id: //p' <<<"$events" | tail -n 2 | head -n 1)
resumed=$(curl -sS -N --max-time 30 "${AUTH[@]}" -H "Last-Event-ID: $last" "$BASE/plans/$id/events")
grep -q '^event: end' <<<"$resumed" || fail "Last-Event-ID resume did not work"
end_id=$(sed -n 's/^id: //p' <<<"$events" | tail -n 1)
[ "$end_id" -gt "$last" ] || fail "end has id $end_id, not one of its own after $last"
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 30 "${AUTH[@]}" -H "Last-Event-ID: $end_id" "$BASE/plans/$id/events")
[ "$code" = 204 ] || fail "a reconnect after end answered $code, not 204"

say "== files and report"
files=$(api "$BASE/plans/$id/files")
grep -q '"report.html"' <<<"$files" || fail "report.html not among the files"
report=$(mktemp)
api "$BASE/plans/$id/report" -o "$report"
grep -q '<svg' "$report" || fail "the report has no Gantt chart"
say "  report: $(wc -c < "$report") bytes"
rm -f "$report"

say "== export: Markdown report, schedule CSV, archive zip"
markdown=$(api "$BASE/plans/$id/report.md")  # whole, then grep: grep -q on a pipe would cut curl off
grep -q '^## 1\. ' <<<"$markdown" || fail "the Markdown report has no numbered parts"
sheet=$(api "$BASE/plans/$id/schedule.csv")
grep -q '^id,name,level,' <<<"$sheet" || fail "the schedule CSV has no header"
zipfile=$(mktemp)
api "$BASE/plans/$id/archive" -o "$zipfile"
[ "$(head -c 2 "$zipfile")" = "PK" ] || fail "the archive is not a zip"
if command -v unzip >/dev/null; then
  unzip -l "$zipfile" | grep -q "$id/outputs/report.html" || fail "the archive lacks the report"
fi
say "  archive: $(wc -c < "$zipfile") bytes"
rm -f "$zipfile"

say "== regenerate a section (the pitch, and the report after it)"
rerun=$(api -X POST "$BASE/plans/$id/rerun" -H 'Content-Type: application/json' \
  -d '{"tasks": ["pitch"], "feedback": "Say who the first customers are."}')
grep -q '"tasks":\["pitch","report"\]' <<<"$rerun" || fail "the rerun did not name pitch and report: $rerun"
wait_end "$id"
[ "$status" = completed ] || fail "the rerun ended $status: $plan"
events=$(curl -sS -N --max-time 60 "${AUTH[@]}" "$BASE/plans/$id/events")
grep -q '^event: plan_rerun' <<<"$events" || fail "no plan_rerun event"

say "== cancel and resume a second plan"
second=$(api -X POST "$BASE/plans" -H 'Content-Type: application/json' \
  -d '{"prompt": "Build a community solar farm in rural Kenya", "detail": "full"}' | field id)
api -X POST "$BASE/plans/$second/cancel" >/dev/null
deadline=$(( $(date +%s) + 60 ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  status=$(api "$BASE/plans/$second" | field status)
  [ "$status" = cancelled ] && break
  sleep 0.5
done
[ "$status" = cancelled ] || fail "plan $second was not cancelled (status $status)"
code=$(curl -sS -o /dev/null -w '%{http_code}' "${AUTH[@]}" "$BASE/plans/$second/report")
[ "$code" = 409 ] || fail "report of a cancelled plan answered $code, expected 409"
resumed_plan=$(api -X POST "$BASE/plans/$second/resume")
grep -q '"queued"' <<<"$resumed_plan" || fail "resume did not queue the plan"
api -X POST "$BASE/plans/$second/cancel" >/dev/null  # leave the server idle
deadline=$(( $(date +%s) + 60 ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  status=$(api "$BASE/plans/$second" | field status)
  [ "$status" = cancelled ] && break
  sleep 0.5
done

say "== delete both plans"
for plan in "$id" "$second"; do
  code=$(curl -sS -o /dev/null -w '%{http_code}' "${AUTH[@]}" -X DELETE "$BASE/plans/$plan")
  [ "$code" = 204 ] || fail "DELETE /plans/$plan answered $code, expected 204"
  code=$(curl -sS -o /dev/null -w '%{http_code}' "${AUTH[@]}" "$BASE/plans/$plan")
  [ "$code" = 404 ] || fail "plan $plan still answers $code after DELETE"
done

say "smoke test passed: $BASE"
