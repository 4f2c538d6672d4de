#!/bin/sh
# Runs once, when the postgres container initialises its data volume: the same
# idempotent DDL as `make db`, then the role passwords from the environment.
set -eu
for file in /warehouse-sql/[0-9]*.sql; do
    echo "applying $file"
    psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f "$file"
done
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" \
    -v loader="$ECOM_LOADER_PASSWORD" -v transformer="$ECOM_TRANSFORMER_PASSWORD" \
    -v analyst="$ECOM_ANALYST_PASSWORD" -v auditor="$ECOM_AUDITOR_PASSWORD" <<'SQL'
alter role ecom_loader password :'loader';
alter role ecom_transformer password :'transformer';
alter role ecom_analyst password :'analyst';
alter role ecom_auditor password :'auditor';
SQL
