#!/bin/sh
# Screenshots of the batch reports for the README (headless Chromium; PNGs kept small).
# Usage: docs/make_screenshots.sh [REPORTS_DIR]   (default: reports/, after `make run`)
set -eu
reports=$(cd "${1:-reports}" && pwd)
out=$(cd "$(dirname "$0")" && pwd)/img
mkdir -p "$out"
shot() {  # file width height name
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
        --window-size="$2,$3" --screenshot="$out/$4.png" "file://$reports/$1" >/dev/null 2>&1
}
shot index.html 1280 720 reports_index
shot patients/P004/03_bed_cycle_decision.html 1100 1250 patient_decision
shot cohort/04_efficacy/04_efficacy.html 1100 2400 efficacy_report
shot patients/P001/02_kidney_dosimetry.html 1100 1100 patient_dosimetry
# fewer colours: small PNGs (Pillow, installed with matplotlib)
python3 - "$out" <<'PY' 2>/dev/null || true
import sys, pathlib
from PIL import Image
for p in pathlib.Path(sys.argv[1]).glob("*.png"):
    Image.open(p).convert("RGB").quantize(colors=64).save(p, optimize=True)
PY
