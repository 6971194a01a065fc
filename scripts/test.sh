#!/usr/bin/env bash
# The project's one test command (README "Run the tests"; .ci/run calls it).
# It installs what the tests need on a fresh Debian machine, then checks
# formatting, vets, runs every test with the race detector, and fuzzes the
# overlay parser briefly.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v git >/dev/null || need_apt+=(git)
command -v prometheus >/dev/null || need_apt+=(prometheus)
command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v kubectl >/dev/null || need_apt+=(kubectl)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "missing (install with apt-get as root): ${need_apt[*]}" >&2
  fi
fi

# helm: the deploy tests lint and render the chart. Built from the Go module
# proxy (a few minutes on 2 cores, once per machine).
export PATH="$PATH:$(go env GOPATH)/bin"
if ! command -v helm >/dev/null; then
  echo "installing: helm"
  go install helm.sh/helm/v3/cmd/helm@v3.22.0
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2
  echo "$unformatted" >&2
  exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -count=1 -timeout 15m ./...

echo "== fuzz (overlay parser, 20s)"
go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 20s ./overlay/
