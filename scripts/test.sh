#!/usr/bin/env bash
# The test command (README, "Quickstart", command 2; `.ci/run` runs exactly this): installs and starts what
# the tests need on a bare Debian machine — PostgreSQL on 127.0.0.1:5432 with trust auth, MariaDB on
# 127.0.0.1:3306 (root, no password), Debian's Chromium for the dashboard test, pnpm and the locked
# dependencies — then runs lint, build, typecheck and every suite.
# The tests start the rest themselves (a local Chroma server, private PostgreSQL clusters, worker processes).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ci/ensure-postgres.sh
bash scripts/ci/ensure-mariadb.sh
bash scripts/ci/ensure-chromium.sh
bash scripts/bootstrap.sh
pnpm run ci
