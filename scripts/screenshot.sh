#!/usr/bin/env bash
# Render a local HTML file to PNG with headless Chromium, fully offline.
#
# Usage: scripts/screenshot.sh HTML_FILE|LOOPBACK_URL PNG_OUT [WIDTH HEIGHT]   (default 1280 800)
# A URL must be on the loopback address (http://127.0.0.1:PORT/...), e.g. `clusterby serve`.
# Needs: chromium (Debian 12: apt-get install -y chromium); override with $CHROMIUM.
# Env: SCREENSHOT_TIMEOUT (seconds, default 60), SCREENSHOT_VERBOSE=1 to show
# Chromium's stderr (dbus / GPU / fontconfig noise, hidden by default).
# Exits non-zero if Chromium fails or the PNG is missing or empty.
set -euo pipefail

if [[ $# -ne 2 && $# -ne 4 ]]; then
    echo "usage: $0 HTML_FILE PNG_OUT [WIDTH HEIGHT]" >&2
    exit 2
fi
html=$1 out=$2 width=${3:-1280} height=${4:-800}
# A file page may reach nothing, loopback included; a loopback URL may reach its own server.
bypass="<-loopback>" resolver="MAP * ~NOTFOUND"
if [[ $html =~ ^http://(127\.0\.0\.1|localhost)(:[0-9]+)?/ ]]; then
    url=$html
    bypass="127.0.0.1;localhost" resolver="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"
else
    [[ -f $html ]] || { echo "$0: no such file: $html" >&2; exit 2; }
    url="file://$(realpath "$html")"
fi
[[ $width =~ ^[0-9]+$ && $height =~ ^[0-9]+$ ]] || { echo "$0: bad size ${width}x$height" >&2; exit 2; }

# Debian's /usr/bin/chromium is a sh wrapper that sources /etc/chromium.d (adds
# extension/GPU flags, exports API keys, and prints "[: ...: unexpected operator" from
# its dev-shm check on some hosts); call the real binary directly when it is there.
chromium=${CHROMIUM:-}
if [[ -z $chromium ]]; then
    for c in /usr/lib/chromium/chromium chromium chromium-browser google-chrome; do
        chromium=$(command -v "$c" || true)
        [[ -n $chromium ]] && break
    done
fi
[[ -n $chromium ]] || { echo "$0: chromium not found (apt-get install -y chromium)" >&2; exit 127; }

out_abs="$(realpath -m "$out")"
profile=$(mktemp -d "${TMPDIR:-/tmp}/screenshot-profile.XXXXXX")
log="$profile.log"
trap 'rm -rf "$profile" "$log"' EXIT
rm -f "$out_abs"

# --log-level=3 (fatal only) hides the harmless "Failed to connect to the bus" dbus
# errors that headless Chromium logs when no dbus daemon runs (containers).
quiet=(--log-level=3)
[[ ${SCREENSHOT_VERBOSE:-0} == 1 ]] && quiet=()
sandbox=()
[[ $(id -u) -eq 0 ]] && sandbox=(--no-sandbox)  # Chromium refuses to run as root otherwise

# --host-resolver-rules / --proxy-server point every network name at nothing, so no
# request (even a stray http:// one in the page) can leave the machine; the other
# flags disable background traffic (updates, sync, metrics, component downloads).
rc=0
timeout --kill-after=5 "${SCREENSHOT_TIMEOUT:-60}" "$chromium" \
    --headless=new "${sandbox[@]}" "${quiet[@]}" --disable-gpu --hide-scrollbars \
    --user-data-dir="$profile" --no-first-run --no-default-browser-check \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-default-apps --disable-extensions --disable-breakpad \
    --disable-domain-reliability --metrics-recording-only --no-pings \
    --disable-features=MediaRouter,OptimizationHints,Translate,AutofillServerCommunication,CertificateTransparencyComponentUpdater \
    --host-resolver-rules="$resolver" --proxy-server="127.0.0.1:9" --proxy-bypass-list="$bypass" \
    --disable-dev-shm-usage --mute-audio --password-store=basic --use-mock-keychain \
    --force-device-scale-factor=1 --window-size="$width,$height" \
    --virtual-time-budget="${SCREENSHOT_BUDGET_MS:-5000}" \
    --screenshot="$out_abs" "$url" >"$log" 2>&1 || rc=$?

if [[ $rc -ne 0 || ! -s $out_abs ]]; then
    cat "$log" >&2
    echo "$0: chromium exit status $rc; no PNG at $out_abs" >&2
    exit $(( rc ? rc : 1 ))
fi
[[ ${SCREENSHOT_VERBOSE:-0} == 1 ]] && cat "$log" >&2
exit 0
