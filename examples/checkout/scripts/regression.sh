#!/bin/sh
# Run one TypeScript test file: compile the project when dist/ is missing or older than the
# sources (type errors are reported but do not stop the emit, so a test of missing code still
# runs and fails), then run the compiled test.
set -u
file="$1"
js="dist/$(echo "$file" | sed 's/\.ts$/.js/')"
if [ ! -f "$js" ] || [ -n "$(find src test -name '*.ts' -newer "$js" 2>/dev/null | head -n 1)" ]; then
  npx tsc -p . >/dev/null 2>&1
fi
exec node --test "$js"
