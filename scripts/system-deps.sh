#!/bin/sh
# The system libraries PDF rendering needs (WeasyPrint: Pango, HarfBuzz, fonts), installed
# where missing, and hledger for the tests of `crm export ledger`. Everything else comes from
# pyproject.toml into the virtual environment.
set -u
have_pango() {
    if command -v ldconfig >/dev/null 2>&1 && ldconfig -p 2>/dev/null | grep -q 'libpango-1.0'; then
        return 0
    fi
    for dir in /usr/lib /usr/lib64 /usr/local/lib /opt/homebrew/lib /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu; do
        ls "$dir"/libpango-1.0* >/dev/null 2>&1 && return 0
    done
    return 1
}
# hledger reads the journal of `crm export ledger` in the tests (they skip it when missing).
if ! command -v hledger >/dev/null 2>&1; then
    echo "Installing hledger for the tests of crm export ledger..." >&2
    HSUDO=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
        HSUDO="sudo"
    fi
    if command -v apt-get >/dev/null 2>&1; then
        $HSUDO apt-get update -qq && $HSUDO apt-get install -y -qq hledger >/dev/null
    elif command -v dnf >/dev/null 2>&1; then
        $HSUDO dnf install -y -q hledger
    elif command -v apk >/dev/null 2>&1; then
        $HSUDO apk add --quiet hledger
    elif command -v brew >/dev/null 2>&1; then
        brew install hledger
    fi
    command -v hledger >/dev/null 2>&1 || echo "warning: hledger is missing: its tests are skipped." >&2
fi
if have_pango; then
    exit 0
fi
echo "Installing Pango for PDF documents..." >&2
SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
fi
if command -v apt-get >/dev/null 2>&1; then
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core >/dev/null
    $SUDO apt-get install -y -qq libharfbuzz-subset0 >/dev/null 2>&1 || true  # not on older releases
elif command -v dnf >/dev/null 2>&1; then
    $SUDO dnf install -y -q pango fontconfig dejavu-sans-fonts
elif command -v apk >/dev/null 2>&1; then
    $SUDO apk add --quiet pango font-dejavu
elif command -v brew >/dev/null 2>&1; then
    brew install pango
fi
if ! have_pango; then
    echo "warning: Pango is missing: PDF documents cannot be made (HTML, Markdown and text can)." >&2
    echo "         Install it (Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0)." >&2
fi
exit 0
