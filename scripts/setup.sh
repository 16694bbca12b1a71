#!/usr/bin/env bash
# Prepare a development/CI environment for codesign on Debian:
#   1. system tools: iverilog (+ iverilog-vpi, vvp), yosys, verilator, a C compiler,
#      and a python3 able to create virtual environments;
#   2. .venv/ at the repository root with `pip install -e '.[dev]'`;
#   3. the MyHDL co-simulation VPI module at .venv/share/codesign/myhdl.vpi,
#      compiled from the C sources shipped by the installed myhdl wheel.
# Idempotent: each step is skipped when already done. Never reads standard input.
set -euo pipefail

cd -P "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd -P)
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
STAMP="$VENV/.codesign-install-stamp"
VPI_DIR="$VENV/share/codesign"
VPI="$VPI_DIR/myhdl.vpi"
changed=0

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# --- Debian packages -----------------------------------------------------------

apt_updated=0
apt_install() {
    local cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $*"
    local -a sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            die "missing Debian packages: $*
  run as root:  $cmd"
        fi
    fi
    command -v apt-get >/dev/null 2>&1 \
        || die "apt-get not found (not Debian/Ubuntu?); install the equivalent of: $*"
    say "installing Debian packages: $*"
    if [ "$apt_updated" -eq 0 ]; then
        "${sudo[@]}" apt-get update -q </dev/null || die "apt-get update failed; run: $cmd"
        apt_updated=1
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "$@" </dev/null \
        || die "apt-get install failed; run: $cmd"
    changed=1
}

missing=()
want() {  # want COMMAND PACKAGE...: queue PACKAGEs unless COMMAND is on PATH
    local cmd=$1; shift
    command -v "$cmd" >/dev/null 2>&1 && return 0
    local pkg
    for pkg in "$@"; do
        case " ${missing[*]-} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
    done
}
want iverilog iverilog
want iverilog-vpi iverilog
want vvp iverilog
want yosys yosys
want verilator verilator
want cc gcc libc6-dev
want python3 python3 python3-venv
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
    for cmd in iverilog iverilog-vpi vvp yosys verilator cc python3; do
        command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' still missing after installing: ${missing[*]}"
    done
fi
say "iverilog yosys verilator present"

# --- virtual environment -------------------------------------------------------

venv_ok() { [ -x "$PY" ] && "$PY" -c 'import pip' >/dev/null 2>&1; }

if ! venv_ok; then
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" </dev/null; then
        # Debian's python3 needs python3-venv (ensurepip) to create environments.
        rm -rf "$VENV"
        apt_install python3-venv
        python3 -m venv "$VENV" </dev/null || die "python3 -m venv failed even after installing python3-venv"
    fi
    venv_ok || die "$VENV was created but has no working pip"
    say "created .venv with $("$PY" -V 2>&1)"
    changed=1
fi

want_hash=$(sha256sum pyproject.toml | cut -d' ' -f1)
have_hash=$(cat "$STAMP" 2>/dev/null || true)

# Import from / with -I so the checkout directory itself is not on sys.path:
# this tests the installed (editable) package, not the working directory.
import_check() { (cd / && "$PY" -I -c 'import codesign') 2>&1; }

reason=""
if [ "$want_hash" != "$have_hash" ]; then
    reason="pyproject.toml changed"
    [ -n "$have_hash" ] || reason="not installed yet"
elif ! import_check >/dev/null; then
    reason="'import codesign' failed"
fi
if [ -n "$reason" ]; then
    say "installing codesign[dev] into .venv ($reason)"
    rm -f "$STAMP"
    "$PY" -m pip install --disable-pip-version-check -q -e "$ROOT[dev]" </dev/null \
        || die "pip install -e '.[dev]' failed"
    printf '%s\n' "$want_hash" >"$STAMP"
    changed=1
    if ! err=$(import_check); then
        printf 'setup: warning: codesign installed but does not import yet:\n%s\n' \
            "$(printf '%s\n' "$err" | tail -n 5)" >&2
    fi
    say ".venv ready"
else
    say ".venv up to date"
fi

# --- myhdl.vpi -----------------------------------------------------------------

prefix=$("$PY" -c 'import sys; print(sys.prefix)')
SRC="$prefix/share/myhdl/cosimulation/icarus"
[ -f "$SRC/myhdl.c" ] && [ -f "$SRC/myhdl_table.c" ] \
    || die "MyHDL co-simulation sources not found in $SRC (is myhdl installed in .venv? try: $PY -m pip install --force-reinstall myhdl)"

if [ -f "$VPI" ] && [ "$VPI" -nt "$SRC/myhdl.c" ] && [ "$VPI" -nt "$SRC/myhdl_table.c" ]; then
    say "myhdl.vpi up to date at $VPI"
else
    build=$(mktemp -d)
    trap 'rm -rf "$build"' EXIT
    # iverilog-vpi writes its objects and the .vpi into the current directory.
    if ! log=$(cd "$build" && iverilog-vpi "$SRC/myhdl.c" "$SRC/myhdl_table.c" </dev/null 2>&1) \
        || [ ! -f "$build/myhdl.vpi" ]; then
        printf '%s\n' "$log" >&2
        die "iverilog-vpi failed to build myhdl.vpi"
    fi
    mkdir -p "$VPI_DIR"
    tmp=$(mktemp "$VPI_DIR/.myhdl.vpi.XXXXXX")
    cp "$build/myhdl.vpi" "$tmp"
    chmod 0755 "$tmp"
    mv -f "$tmp" "$VPI"
    say "myhdl.vpi built at $VPI"
    changed=1
fi

# --- compiled kernels ----------------------------------------------------------

# C sources shipped in the package, compiled into <venv>/share/codesign/native (codesign.native);
# a library already built from the same source and flags is kept.
if ! log=$(cd / && "$PY" -I -c 'from codesign.specbp.trainer import kernels; print(kernels()._name)' </dev/null 2>&1); then
    printf '%s\n' "$log" >&2
    die "building the compiled kernels failed"
fi
say "compiled kernels ready: ${log##*/}"

if [ "$changed" -eq 0 ]; then
    say "everything is up to date"
else
    say "done"
fi
