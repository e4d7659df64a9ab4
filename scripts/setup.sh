#!/usr/bin/env bash
# Installs what gompi-kernel needs to build, run and be tested, and skips
# what is already there: the MPI chosen by $MPI (openmpi, the default, or
# mpich: what `make MPI=mpich` builds against), libzmq (the Jupyter sockets, through cgo),
# the Jupyter clients (Debian's, for
# /usr/bin/python3), tmux for the console test, chromium (and Node.js with
# npm where the machine has none) for the browser test, and the Go modules.
# Safe to run again; `make run` and `make test` call it first.
set -euo pipefail

case "${MPI:-openmpi}" in
  openmpi) mpi_packages=(libopenmpi-dev openmpi-bin) ;;
  mpich) mpi_packages=(libmpich-dev mpich) ;;
  *) echo "setup: MPI must be openmpi or mpich, not ${MPI}" >&2; exit 2 ;;
esac

packages=(
  # build and run
  pkg-config "${mpi_packages[@]}" libzmq3-dev
  # frontends: console, notebook, nbconvert
  jupyter-core jupyter-client jupyter-console jupyter-nbconvert jupyter-notebook
  python3-jupyter-client python3-nbclient python3-nbconvert python3-nbformat
  # tests
  python3-jupyter-kernel-test python3-zmq python3-ipykernel tmux procps
  # the browser test (tests/browser_test.go): Debian's chromium, driven by
  # puppeteer-core, which the test installs with npm ci
  chromium
)
# Node.js and npm: the machine's own if it has them, else Debian's.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

export PATH="/usr/local/go/bin:$PATH"
cd "$(dirname "$0")/.."
go mod download
