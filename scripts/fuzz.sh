#!/usr/bin/env bash
# Runs every fuzz target of the module for a few seconds each, so that a
# target whose oracle has gone stale (or a parser that now panics) fails CI
# instead of waiting for someone to run `go test -fuzz` by hand.
#
#   scripts/fuzz.sh                  # each target for 5s
#   FUZZTIME=30s scripts/fuzz.sh     # longer
#   FUZZ_PARALLEL=1 scripts/fuzz.sh  # one worker per target (a shared machine)
#
# Targets are discovered, not listed here: the packages whose tests define a
# `func Fuzz...`, then `go test -list` in each, so a new target is run without
# editing this script. A failure leaves its input under the package's
# testdata/fuzz/<Target>/, which `go test` replays from then on.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
fuzztime=${FUZZTIME:-5s}
parallel=()
if [[ -n ${FUZZ_PARALLEL:-} ]]; then
	parallel=(-parallel "$FUZZ_PARALLEL")
fi

# Directories holding a test file that defines a fuzz target.
mapfile -t dirs < <(git ls-files -- '*_test.go' | xargs grep -l '^func Fuzz' | xargs -r -n1 dirname | sort -u)
if ((${#dirs[@]} == 0)); then
	echo "no fuzz targets found" >&2
	exit 1
fi

targets=()
for dir in "${dirs[@]}"; do
	while IFS= read -r name; do
		[[ $name == Fuzz* ]] && targets+=("./$dir $name")
	done < <(go test -list '^Fuzz' "./$dir")
done

echo "${#targets[@]} fuzz targets, ${fuzztime} each:"
printf '  %s\n' "${targets[@]}"
failed=()
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	echo "+ go test -run '^\$' -fuzz '^$name\$' -fuzztime $fuzztime ${parallel[*]} $pkg"
	if ! go test -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" "${parallel[@]}" "$pkg"; then
		failed+=("$pkg $name")
	fi
done
if ((${#failed[@]} > 0)); then
	echo "fuzz targets failed:" >&2
	printf '  %s\n' "${failed[@]}" >&2
	exit 1
fi
echo "all ${#targets[@]} fuzz targets passed"
