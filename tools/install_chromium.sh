#!/bin/sh
# Install Debian's chromium for the real-browser test if it is missing. Never fails the build: when it cannot
# be installed, tests/browser/ skips with the reason.
if [ -x /usr/bin/chromium ]; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_chromium: no apt-get; the browser test will be skipped"; exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "install_chromium: not root and no sudo; the browser test will be skipped"; exit 0; fi
fi
echo "install_chromium: installing Debian's chromium (once)"
($SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null) \
  || echo "install_chromium: apt-get failed; the browser test will be skipped"
exit 0
