#!/usr/bin/env bash
# Install the system packages `make demo` / `make test` need and the machine lacks.
#   scripts/system-packages.sh demo   PostgreSQL server and client, a Java 17+ runtime
#   scripts/system-packages.sh test   the same, plus Chromium and its driver (browser test)
#   scripts/system-packages.sh bench  the same as demo, plus the PostgreSQL JDBC driver (a baseline)
# Debian/Ubuntu: apt-get, directly as root, otherwise through sudo after one line
# saying what it installs. Elsewhere: one line naming what to install, exit 2.
# ECOM_SKIP_SYSTEM_PACKAGES=1 skips the check.
set -euo pipefail
purpose=${1:-demo}
[ "${ECOM_SKIP_SYSTEM_PACKAGES:-}" = 1 ] && exit 0

missing=() # Debian package names
what=()    # what they are, for the one line elsewhere

has_pg_server() {
    [ -n "${ECOM_PG_BINDIR:-}" ] && [ -x "$ECOM_PG_BINDIR/initdb" ] && return 0
    command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || compgen -G "/usr/pgsql-*/bin/initdb" >/dev/null
}
java_major() {
    local java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
    command -v "$java" >/dev/null 2>&1 || { echo 0; return; }
    "$java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1
}

# A project pointed at its own server (PGHOST set) needs no server binaries.
if [ -z "${PGHOST:-}" ] && ! has_pg_server; then missing+=(postgresql); what+=("PostgreSQL server"); fi
command -v psql >/dev/null 2>&1 || { missing+=(postgresql-client); what+=("psql"); }
if [ "$(java_major)" -lt 17 ] 2>/dev/null; then missing+=(openjdk-17-jre-headless); what+=("Java 17+"); fi
if [ "$(id -u)" = 0 ]; then
    command -v runuser >/dev/null 2>&1 || { missing+=(util-linux); what+=("runuser"); }
fi
command -v pgrep >/dev/null 2>&1 || { missing+=(procps); what+=("procps"); }
if [ "$purpose" = test ]; then
    [ -x /usr/bin/chromium ] || { missing+=(chromium); what+=("Chromium"); }
    [ -x /usr/bin/chromedriver ] || { missing+=(chromium-driver); what+=("chromedriver"); }
fi
if [ "$purpose" = bench ]; then
    [ -f /usr/share/java/postgresql.jar ] || { missing+=(libpostgresql-jdbc-java); what+=("the PostgreSQL JDBC driver"); }
fi
[ ${#missing[@]} = 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: missing ${what[*]}: install them (macOS: brew install postgresql@15 openjdk@17 chromedriver), or set PGHOST to use your own PostgreSQL; ECOM_SKIP_SYSTEM_PACKAGES=1 skips this check" >&2
    exit 2
fi
run=()
if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "error: missing ${what[*]}: as root, run: apt-get install ${missing[*]}" >&2
        exit 2
    fi
    run=(sudo)
fi
echo "installing system packages for 'make $purpose': ${missing[*]} (apt-get${run:+ through sudo})"
export DEBIAN_FRONTEND=noninteractive
"${run[@]}" apt-get update -qq
"${run[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
