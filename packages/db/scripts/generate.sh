#!/usr/bin/env bash
# Generates both Prisma clients (SQLite and PostgreSQL) offline: `prisma generate` needs no schema
# engine, but insists on a path to one, so any existing file will do.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export CHECKPOINT_DISABLE=1 PRISMA_HIDE_UPDATE_MESSAGE=1
export PRISMA_SCHEMA_ENGINE_BINARY="${PRISMA_SCHEMA_ENGINE_BINARY:-$(command -v node)}"
node --import tsx packages/db/scripts/derive-postgres-schema.ts
prisma=packages/db/node_modules/.bin/prisma
"$prisma" generate --schema prisma/schema.prisma >/dev/null
"$prisma" generate --schema prisma/postgresql.prisma >/dev/null
echo "prisma clients generated (sqlite, postgresql)"
