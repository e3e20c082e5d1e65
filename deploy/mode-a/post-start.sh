#!/usr/bin/env bash
# Mode A: once the app answers, initialise its schedules (idempotent; safe on every start).
# Needs APP_URL (e.g. https://sync.example.com) and CRON_SECRET in the environment.
set -euo pipefail
for _ in $(seq 1 60); do
  curl -fsS -o /dev/null "$APP_URL/healthz" && break
  sleep 1
done
curl -fsS -H "X-Cron-Secret: $CRON_SECRET" "$APP_URL/api/cron/startup"
