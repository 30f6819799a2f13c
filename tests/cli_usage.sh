#!/usr/bin/env bash
# The brook CLI's conventions: help goes to stdout with exit code 0; a
# command line brook does not understand prints why and the usage to
# stderr, nothing to stdout, and exits 2.
#   cli_usage.sh BROOK
set -uo pipefail
brook="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# check WANT_RC WANT_STREAM WANT_TEXT ARGS...: brook ARGS exits WANT_RC;
# WANT_STREAM (stdout or stderr) holds WANT_TEXT (a fixed string) and the
# usage line USAGE; the other stream is empty.
check() {
	local want_rc="$1" stream="$2" text="$3" rc other
	shift 3
	"$brook" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
	rc=$?
	if [ "$stream" = stdout ]; then other=stderr; else other=stdout; fi
	if [ "$rc" -ne "$want_rc" ]; then
		echo "FAIL: brook $*: exit code $rc, want $want_rc" >&2
		failures=$((failures + 1))
	fi
	if ! grep -qF -- "$USAGE" "$tmp/$stream"; then
		echo "FAIL: brook $*: no \"$USAGE\" on $stream" >&2
		failures=$((failures + 1))
	fi
	if ! grep -qF -- "$text" "$tmp/$stream"; then
		echo "FAIL: brook $*: no \"$text\" on $stream" >&2
		failures=$((failures + 1))
	fi
	if [ -s "$tmp/$other" ]; then
		echo "FAIL: brook $*: $other is not empty:" >&2
		cat "$tmp/$other" >&2
		failures=$((failures + 1))
	fi
}

# The whole usage: each command's line.
USAGE="usage: brook describe EXAMPLE [--dot]"
check 0 stdout "brook help [COMMAND]" --help
check 0 stdout "brook help [COMMAND]" -h
check 0 stdout "brook help [COMMAND]" help
check 0 stdout "brook help [COMMAND]" help help
check 2 stderr "brook: no command given"
check 2 stderr 'brook: unknown command "frobnicate"' frobnicate
check 2 stderr 'brook: unknown option "--frobnicate"' --frobnicate
check 2 stderr 'brook: unexpected argument "describe"' --help describe
check 2 stderr 'brook: unknown command "frobnicate"' help frobnicate
check 2 stderr 'brook: unexpected argument "extra"' help describe extra

# describe
USAGE="usage: brook describe EXAMPLE [--dot]"
check 0 stdout "Graphviz DOT" describe --help
check 0 stdout "Graphviz DOT" describe vitals-alerts --help
check 0 stdout "Graphviz DOT" help describe
check 2 stderr "brook: describe needs an EXAMPLE" describe
check 2 stderr "brook: describe needs an EXAMPLE" describe --dot
check 2 stderr 'brook: unknown option "--frobnicate"' describe vitals-alerts --frobnicate
check 2 stderr 'brook: unexpected argument "claims-router"' describe vitals-alerts claims-router

# examples
USAGE="usage: brook examples"
check 0 stdout "Lists the examples" examples --help
check 0 stdout "Lists the examples" help examples
check 2 stderr 'brook: unexpected argument "extra"' examples extra
check 2 stderr 'brook: unknown option "--frobnicate"' examples --frobnicate

# version
USAGE="usage: brook version"
check 0 stdout "Prints brook's version" version --help
check 0 stdout "Prints brook's version" help version
check 2 stderr 'brook: unexpected argument "extra"' version extra
check 2 stderr 'brook: unknown option "--frobnicate"' version --frobnicate

# inspect
USAGE="usage: brook inspect --state-dir DIR --store NAME"
check 0 stdout "Serdes: bytes (default)" inspect --help
check 0 stdout "Serdes: bytes (default)" inspect -h
check 0 stdout "Serdes: bytes (default)" help inspect
check 2 stderr "brook: --state-dir and --store are required" inspect
check 2 stderr 'brook: unknown option "--frobnicate"' inspect --frobnicate
check 2 stderr 'brook: option "--limit" needs a value' inspect --store s --limit
check 2 stderr 'brook: unexpected argument "extra"' inspect --state-dir "$tmp" --store s extra

# Commands that work still print to stdout only and exit 0.
"$brook" version >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
if [ "$rc" -ne 0 ] || ! grep -q '^brook [0-9]' "$tmp/stdout" || [ -s "$tmp/stderr" ]; then
	echo "FAIL: brook version: exit code $rc, stdout \"$(cat "$tmp/stdout")\"" >&2
	failures=$((failures + 1))
fi
"$brook" examples >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
if [ "$rc" -ne 0 ] || ! grep -q '^vitals-alerts ' "$tmp/stdout" || [ -s "$tmp/stderr" ]; then
	echo "FAIL: brook examples: exit code $rc" >&2
	failures=$((failures + 1))
fi

if [ "$failures" -ne 0 ]; then
	echo "$failures check(s) failed" >&2
	exit 1
fi
