#!/usr/bin/env bash
# Build etcd, kube-apiserver and kube-scheduler from their Go modules (no Docker, no git
# clone) into
# $CACHE/kube/bin/, where CACHE is devstack/proc.py's cache folder (outside the work tree:
# $PRIMEHUB_DEVSTACK_CACHE, default ~/.cache/primehub-spawner-devstack). Everything Go
# downloads or compiles stays under $CACHE/go, so a second run is a no-op and a rebuild
# after a version bump reuses the build cache.
#
#   devstack/build-kube.sh            # newest release the local Go can build
#   KUBE_VERSION=v1.36.3 ETCD_VERSION=v3.6.16 devstack/build-kube.sh
#   FORCE=1 devstack/build-kube.sh    # rebuild even when the stamps match
#
# k8s.io/kubernetes is not meant to be a dependency: its go.mod requires every staging
# module (k8s.io/api, k8s.io/apimachinery, ...) at v0.0.0 and replaces it with
# ./staging/src/..., and a dependency's replace directives do not count. So the build
# module below replaces each of them with the published tag v0.Y.Z of the same release,
# the list read from the downloaded go.mod of the chosen release. kube-apiserver and
# kube-scheduler are two commands of that one build module.
#
# Under pipefail a reader that stops early (head) can kill its writer with SIGPIPE and
# fail the whole script (exit 141), so the pipes here only end in readers that read to EOF.
set -euo pipefail

CACHE="${PRIMEHUB_DEVSTACK_CACHE:-$HOME/.cache/primehub-spawner-devstack}"
BIN="$CACHE/kube/bin"
SRC="$CACHE/kube/src"
GO="${GO:-/usr/local/go/bin/go}"

export GOPATH="$CACHE/go"
export GOMODCACHE="$CACHE/go/mod"
export GOCACHE="$CACHE/go/build"
export GOTOOLCHAIN=local
export GOFLAGS="-trimpath -mod=mod"
export CGO_ENABLED=0
export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"

say() { printf '[build-kube] %s\n' "$*" >&2; }

[ -x "$GO" ] || { say "no Go toolchain at $GO (set GO=...)"; exit 1; }
GO_LOCAL="$("$GO" env GOVERSION)"      # e.g. go1.26.8
GO_LOCAL="${GO_LOCAL#go}"
mkdir -p "$BIN" "$SRC"

# version_le A B: true when Go version A <= B (1.26.0 <= 1.26.8).
version_le() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | sed -n 1p)" = "$1" ]; }

# pick MODULE PREFIX_REGEX: newest release (no pre-release) whose go directive the local Go
# satisfies. Reads only .info/.mod files from the proxy, not the module zips.
pick() {
    local module="$1" pattern="$2" v gov
    for v in $("$GO" list -m -versions "$module" | tr ' ' '\n' | grep -E "$pattern" | sort -rV); do
        gov="$("$GO" list -m -f '{{.GoVersion}}' "$module@$v")"
        if version_le "${gov:-0}" "$GO_LOCAL"; then
            echo "$v"; return 0
        fi
        say "$module $v needs go $gov > $GO_LOCAL, trying older"
    done
    return 1
}

stamp_ok() {  # stamp_ok NAME WANT
    [ -z "${FORCE:-}" ] && [ -x "$BIN/$1" ] && [ "$(cat "$BIN/.$1.stamp" 2>/dev/null)" = "$2" ]
}

resolve() {  # resolve NAME MODULE PATTERN -> version (falls back to the stamp when offline)
    local name="$1" module="$2" pattern="$3" v
    if v="$(pick "$module" "$pattern")" && [ -n "$v" ]; then
        echo "$v"
    elif [ -f "$BIN/.$name.stamp" ]; then
        say "cannot list $module versions; keeping the built one"
        sed -n 's/^version=//p' "$BIN/.$name.stamp"
    else
        say "cannot resolve a version of $module"; return 1
    fi
}

# ---------------------------------------------------------------- kube-apiserver, kube-scheduler
KUBE_VERSION="${KUBE_VERSION:-$(resolve kube-apiserver k8s.io/kubernetes '^v1\.[0-9]+\.[0-9]+$')}"
KUBE_STAMP="version=$KUBE_VERSION go=$GO_LOCAL"
KUBE_MODULE="$SRC/kubernetes-$KUBE_VERSION"

# The build module: requires k8s.io/kubernetes and pins its staging modules (see the top).
write_kube_module() {
    local v="$KUBE_VERSION" staging_v gomod mods
    staging_v="v0.${v#v1.}"                       # v1.37.2 -> v0.37.2
    [ -f "$KUBE_MODULE/go.mod" ] && return 0
    say "k8s.io/kubernetes $v (staging modules at $staging_v) in $KUBE_MODULE"
    gomod="$("$GO" mod download -json "k8s.io/kubernetes@$v" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
    [ -f "$gomod" ] || { say "no go.mod for k8s.io/kubernetes@$v"; return 1; }
    # Staging modules: required at v0.0.0 AND replaced with ./staging/... in that go.mod.
    mods="$(awk '
        /^replace[[:space:]]*\(/ { inrep = 1; next }
        inrep && /^\)/          { inrep = 0; next }
        inrep && $2 == "=>" && $3 ~ /^\.\/staging\// { staged[$1] = 1; next }
        /^replace[[:space:]]+k8s\.io\// && $3 == "=>" && $4 ~ /^\.\/staging\// { staged[$2] = 1; next }
        $1 ~ /^k8s\.io\// && $2 == "v0.0.0" { req[$1] = 1 }
        END { for (m in req) if (m in staged) print m }' "$gomod" | sort)"
    [ -n "$mods" ] || { say "found no staging modules in $gomod"; return 1; }
    say "replacing $(echo "$mods" | wc -l) staging modules with $staging_v"
    mkdir -p "$KUBE_MODULE"
    {
        echo "module devstack.local/kubernetes"
        echo
        echo "go $("$GO" list -m -f '{{.GoVersion}}' "k8s.io/kubernetes@$v")"
        echo
        echo "require k8s.io/kubernetes $v"
        echo
        echo "replace ("
        for m in $mods; do echo "	$m => $m $staging_v"; done
        echo ")"
    } > "$KUBE_MODULE/go.mod.new"
    mv "$KUBE_MODULE/go.mod.new" "$KUBE_MODULE/go.mod"
}

build_kube() {  # build_kube COMMAND: k8s.io/kubernetes/cmd/COMMAND into $BIN/COMMAND
    local name="$1" v="$KUBE_VERSION" minor start
    minor="$(echo "$v" | cut -d. -f2)"
    write_kube_module
    start=$(date +%s)
    (
        cd "$KUBE_MODULE"
        say "resolving dependencies (go mod download)"
        "$GO" mod download k8s.io/kubernetes
        say "compiling $name (a cold build takes a while on few cores)"
        "$GO" build -o "$BIN/$name.new" -ldflags "-s -w \
            -X k8s.io/component-base/version.gitVersion=$v \
            -X k8s.io/component-base/version.gitMajor=1 \
            -X k8s.io/component-base/version.gitMinor=$minor \
            -X k8s.io/component-base/version.gitTreeState=clean \
            -X k8s.io/component-base/version.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
            "k8s.io/kubernetes/cmd/$name"
    )
    mv "$BIN/$name.new" "$BIN/$name"
    echo "$KUBE_STAMP" > "$BIN/.$name.stamp"
    say "$name built in $(( $(date +%s) - start ))s, $(du -h "$BIN/$name" | cut -f1)"
}

# ---------------------------------------------------------------- etcd
ETCD_VERSION="${ETCD_VERSION:-$(resolve etcd go.etcd.io/etcd/server/v3 '^v3\.[67]\.[0-9]+$')}"
ETCD_STAMP="version=$ETCD_VERSION go=$GO_LOCAL"

build_etcd() {
    local v="$ETCD_VERSION" dir="$SRC/etcd-$ETCD_VERSION" start
    say "etcd $v in $dir"
    mkdir -p "$dir"
    # The etcd binary's own main (go.etcd.io/etcd/v3) is just etcdmain.Main(os.Args).
    cat > "$dir/main.go" <<'EOF'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
    {
        echo "module devstack.local/etcd"
        echo
        echo "go $("$GO" list -m -f '{{.GoVersion}}' "go.etcd.io/etcd/server/v3@$v")"
        echo
        echo "require go.etcd.io/etcd/server/v3 $v"
    } > "$dir/go.mod"
    start=$(date +%s)
    (
        cd "$dir"
        "$GO" mod tidy
        "$GO" build -o "$BIN/etcd.new" -ldflags "-s -w" .
    )
    mv "$BIN/etcd.new" "$BIN/etcd"
    echo "$ETCD_STAMP" > "$BIN/.etcd.stamp"
    say "etcd built in $(( $(date +%s) - start ))s, $(du -h "$BIN/etcd" | cut -f1)"
}

if stamp_ok etcd "$ETCD_STAMP"; then
    say "etcd $ETCD_VERSION already built"
else
    build_etcd
fi
for name in kube-apiserver kube-scheduler; do
    if stamp_ok "$name" "$KUBE_STAMP"; then
        say "$name $KUBE_VERSION already built"
    else
        build_kube "$name"
    fi
done
# etcd prints several lines; only the first (its version) goes to the log.
etcd_version="$("$BIN/etcd" --version)"
say "${etcd_version%%$'\n'*}"
for name in kube-apiserver kube-scheduler; do
    say "$name: $("$BIN/$name" --version)"
done
