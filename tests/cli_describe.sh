#!/usr/bin/env bash
# `brook describe` prints exactly the expected description of an example.
#   cli_describe.sh BROOK EXAMPLE EXPECTED_FILE [--dot]
set -euo pipefail
brook="$1" example="$2" expected="$3"
shift 3
diff -u "$expected" <("$brook" describe "$example" "$@")
# An unknown example is an error that names it.
if "$brook" describe no-such-example 2>/tmp/cli_describe.$$; then
	echo "describe of an unknown example succeeded" >&2
	exit 1
fi
grep -q 'no example named "no-such-example"' /tmp/cli_describe.$$
rm -f /tmp/cli_describe.$$
