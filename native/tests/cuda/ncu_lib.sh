# Sourced by the Nsight Compute scripts (ncu_lean_on_device.sh, ncu_decode_on_device.sh): finds ncu and, for a
# report NAME.ncu-rep in the current folder, prints the lines of its details that match PATTERN and the SASS stall
# table of ncu_source_stalls.py (beside this file), then keeps the details and source CSV gzipped.
NCU_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
[ -n "$NCU" ] || { echo "no ncu on this machine"; exit 1; }
echo "ncu: $("$NCU" --version | tail -1)"
# NAME TOP PATTERN
ncu_summary() {
  local name=$1 top=$2 pattern=$3
  "$NCU" -i "$name.ncu-rep" --print-details all > "$name-details.txt" 2>&1
  "$NCU" -i "$name.ncu-rep" --page source --print-source sass --csv > "$name-source.csv" 2>&1
  grep -E "$pattern" "$name-details.txt" | awk '!seen[$0]++' | cut -c1-160
  python3 "$NCU_LIB_DIR/ncu_source_stalls.py" "$name-source.csv" "$top" 2>/dev/null | tail -n +3
  gzip -f "$name-source.csv" "$name-details.txt"
}
