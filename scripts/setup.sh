# shellcheck shell=bash
# Shared set-up for scripts/dev and scripts/test (sourced, not run). Installs what is missing:
# Debian packages (when root; otherwise names them and stops), npm packages (npm ci), the build.

DEB_PACKAGES=(
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev pkg-config
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-plugins-base-apps gstreamer1.0-x
  fonts-dejavu-core age socat python3 make g++ openssl
  chromium shellcheck v4l-utils systemd zbar-tools
  swift-proxy swift-object swift-container swift-account memcached python3-swift
)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

check_node() {
  if ! command -v node >/dev/null 2>&1; then
    echo "Node.js >= 20 is needed: apt-get install nodejs npm (Debian 13) or see https://nodejs.org" >&2
    exit 1
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$major" -lt 20 ]; then
    echo "Node.js >= 20 is needed; this is $(node --version)" >&2
    exit 1
  fi
}

install_debian_packages() {
  local missing=()
  for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "These Debian packages are missing; install them as root and run this again:" >&2
    echo "  sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
}

install_npm_packages() {
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing npm packages (npm ci; better-sqlite3 compiles from source, ~2 min)"
    npm ci --no-audit --no-fund --loglevel=error
  fi
}

build() {
  say "building (tsc)"
  npx tsc -p tsconfig.build.json
  if [ -f src/web/ui/vite.config.ts ]; then
    say "building the web app (vite)"
    npx vite build --config src/web/ui/vite.config.ts --logLevel warn
  fi
}

setup_all() {
  check_node
  install_debian_packages
  install_npm_packages
  build
}
