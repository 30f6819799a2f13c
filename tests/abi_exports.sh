#!/usr/bin/env bash
# libbrook.so exports the public API and nothing else.
#   abi_exports.sh LIBBROOK_SO CC INCLUDE_DIR
#
# Every defined dynamic symbol must be a public name (brook_ and a letter);
# an internal brook__ function or any other symbol leaking out would become
# ABI that programs can bind to. And every function the public headers
# declare must be exported, so a public function that lost its visibility
# (say, defined in a file that does not include its header) fails here
# rather than at a user's link.
set -euo pipefail
lib="$1" cc="$2" incdir="$3"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The symbols the library defines; nm -D lists only the dynamic table.
nm -D --defined-only "$lib" | awk 'NF == 3 { print $3 }' | sort -u >"$tmp/exported"

if grep -v '^brook_[a-z]' "$tmp/exported" >"$tmp/internal"; then
	echo "libbrook.so exports symbols outside the public API:" >&2
	cat "$tmp/internal" >&2
	exit 1
fi
grep -qx 'brook_app_new' "$tmp/exported" || {
	echo "libbrook.so does not export brook_app_new" >&2
	exit 1
}

# The functions the headers declare, from the preprocessed headers (so
# comments, which also name functions, do not count): a brook_ name
# directly followed by "(" is a declaration, unless it is a type (a member
# "brook_err_t (*get)(...)"); function pointer typedefs read
# "(*brook_x_fn)(" and do not match.
echo '#include <brook/brook.h>' |
	"$cc" -E -P -I"$incdir" -x c - |
	grep -oE '\bbrook_[a-z0-9_]+ *\(' | sed 's/ *($//' | grep -v '_t$' | sort -u >"$tmp/declared"
[ -s "$tmp/declared" ] || {
	echo "no declarations found in the public headers" >&2
	exit 1
}
if comm -23 "$tmp/declared" "$tmp/exported" >"$tmp/missing" && [ -s "$tmp/missing" ]; then
	echo "declared in include/brook but not exported by libbrook.so:" >&2
	cat "$tmp/missing" >&2
	exit 1
fi
echo "libbrook.so exports $(wc -l <"$tmp/exported") symbols, all public;" \
	"all $(wc -l <"$tmp/declared") declared functions are among them"
