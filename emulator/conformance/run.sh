#!/usr/bin/env bash
# Conformance: drive the emulator with Microsoft's official Graph SDK for Python.
# Usage (from anywhere): emulator/conformance/run.sh
# Creates a venv under target/conformance-venv (reused when the pin is unchanged), starts
# the emulator (examples/serve.rs), runs graph_sdk_check.py, exits non-zero on any mismatch.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/conformance-venv"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ] || ! cmp -s "$here/requirements.txt" "$venv/requirements.txt"; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/requirements.txt"
fi

(cd "$root" && cargo build --quiet -p hcal-emulator --example serve)
out="$(mktemp)"
"$target/debug/examples/serve" --listen 127.0.0.1:0 > "$out" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 1 100); do
  [ -s "$out" ] && break
  sleep 0.1
done
base="$(head -n1 "$out")"
[ -n "$base" ] || { echo "emulator did not start" >&2; exit 1; }
echo "emulator at $base"
"$venv/bin/python" "$here/graph_sdk_check.py" "$base" contoso.example \
  0f6a1d2e-8c4b-4e9a-a1b2-3c4d5e6f7a80 s3cret
