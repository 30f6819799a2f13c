#!/usr/bin/env bash
# `brook inspect` prints exactly the entries a known state db holds.
#   cli_inspect.sh BROOK FIXTURE
# FIXTURE (tests/inspect_fixture.c) writes the state db; the expected output
# of the "counts" store is tests/expected/inspect_counts.txt.
set -euo pipefail
brook="$1" fixture="$2"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"$fixture" "$tmp/state"

# Decoded with serdes; the application id is found (the only one there).
# (Output goes to a file first so that brook's exit status counts.)
"$brook" inspect --state-dir "$tmp/state" --store counts \
	--key-serde string --value-serde int64 >"$tmp/out"
diff -u "$here/expected/inspect_counts.txt" "$tmp/out"

# Raw bytes (escaped), tasks in numeric order, --limit, an explicit id.
"$brook" inspect --state-dir "$tmp/state" --store other \
	--application-id inspect-app --limit 1 >"$tmp/out"
# (printf, not a here-document: the empty value leaves a trailing tab.)
diff -u <(printf '%s\n' 'task 1_2  changelog offset none  entries 1' \
	"$(printf 'k2\t')" 'task 1_10  changelog offset none  entries 1' \
	"$(printf 'k\\x01\ttab\\x09here\\x5c\\xff')" \
	'total entries 2 in 2 tasks') "$tmp/out"

# A store that does not exist: exit 1, and the stores that do are named.
if "$brook" inspect --state-dir "$tmp/state" --store nope 2>"$tmp/err"; then
	echo "inspect of a missing store succeeded" >&2
	exit 1
fi
grep -q 'no store "nope" in ".*"; stores: counts, other' "$tmp/err"

# A bad serde is an error (1); a usage error is 2.
rc=0
"$brook" inspect --state-dir "$tmp/state" --store counts \
	--key-serde nosuch 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ]
grep -q 'unknown key serde "nosuch"' "$tmp/err"
rc=0
"$brook" inspect --store counts 2>/dev/null || rc=$?
[ "$rc" = 2 ]

# No state db: exit 1 with the directory named.
mkdir "$tmp/empty"
rc=0
"$brook" inspect --state-dir "$tmp/empty" --store counts 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ]
grep -q "no application state in \"$tmp/empty\"" "$tmp/err"
