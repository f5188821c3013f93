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
# fuzz_once runs one target; its output is also kept in $out.
out=$(mktemp)
trap 'rm -f "$out"' EXIT
fuzz_once() {
	local pkg=$1 name=$2
	echo "+ go test -run '^\$' -fuzz '^$name\$' -fuzztime $fuzztime ${parallel[*]} $pkg"
	go test -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" "${parallel[@]}" "$pkg" 2>&1 | tee "$out"
	return "${PIPESTATUS[0]}"
}
# corpus_size counts the inputs a failure would add to.
corpus_size() {
	if [[ -d $1/testdata/fuzz/$2 ]]; then
		find "$1/testdata/fuzz/$2" -type f | wc -l
	else
		echo 0
	fi
}

failed=()
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	before=$(corpus_size "$pkg" "$name")
	if fuzz_once "$pkg" "$name"; then
		continue
	fi
	# Go's fuzzing engine can end a run on a loaded machine with "context
	# deadline exceeded": a race in its own coordinator at the -fuzztime
	# deadline (go.dev/issue/75804, fixed in Go 1.27), with no input failed
	# and none written. That run is tried once more; a failing input (a
	# new file in the corpus) is not.
	if grep -q 'context deadline exceeded' "$out" && [[ $(corpus_size "$pkg" "$name") == "$before" ]]; then
		echo "(the fuzzing engine timed out its own worker, with no failing input: trying $name once more)"
		if fuzz_once "$pkg" "$name"; then
			continue
		fi
	fi
	failed+=("$pkg $name")
done
if ((${#failed[@]} > 0)); then
	echo "fuzz targets failed:" >&2
	printf '  %s\n' "${failed[@]}" >&2
	exit 1
fi
echo "all ${#targets[@]} fuzz targets passed"
