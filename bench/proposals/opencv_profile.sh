#!/bin/sh
# Same-run comparison: cv2 Fast (one thread) vs the C# port, on the five fixture photos; prints the ratio per image.
# Usage: bench/proposals/opencv_profile.sh [reps]   (build first: dotnet build bench/proposals/opencv_profile.csproj -c Release)
set -e
cd "$(dirname "$0")/../.."
R=${1:-5}
IMGS="samples/photos/chelsea.png samples/photos/butterfly.jpg samples/photos/plant.jpg samples/photos/messi5.jpg samples/photos/camera.png"
T=$(mktemp -d)
/usr/bin/python3 bench/proposals/opencv_profile.py "$R" $IMGS 2>/dev/null > "$T/cv2"
DOTNET_TieredPGO=1 bench/proposals/bin/Release/net10.0/linux-x64/opencv_profile time "$R" $IMGS > "$T/ours"
cat "$T/ours"
awk 'NR==FNR { cv[$1] = $3; next } { printf "%-10s cv2 %7.1f ms  ours %6.1f ms  ratio %5.1fx\n", $1, cv[$1], $3, cv[$1] / $3 }' "$T/cv2" "$T/ours"
rm -r "$T"
