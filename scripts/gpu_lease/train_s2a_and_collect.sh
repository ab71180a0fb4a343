# Call 2: S2A in the foreground for S2A_SECS; call 1's T2S daemon (when this machine still runs it) is
# stopped at the same deadline; both exported in float16, split under 16 MB, loss logs merged into $OUT
set -u; T0=$(date +%s); SECS=${S2A_SECS:-450}
. .gpu/common/env.sh
python3 /tmp/g/common/lease_tokens.py unpack .gpu/s2a/data.xz /tmp/vt-s2a || exit 1
rm -rf /tmp/runs/s2a; mkdir -p /tmp/runs/s2a
python3 /tmp/g/common/runner.py s2a "/tmp/vt-s2a/*/*.tar" /tmp/runs/s2a $PWD/.gpu/s2a/s2a.model ${S2A_STEPS:-10000} \
    $(( SECS - ($(date +%s) - T0) )) ${WORKERS:-6} > /tmp/runs/s2a.log 2>&1
grep -v "Warning\|Tip:\|pytree" /tmp/runs/s2a.log | tail -8
while [ -f /tmp/runs/t2s/pid ] && kill -0 "$(cat /tmp/runs/t2s/pid)" 2>/dev/null; do
  [ $(( $(date +%s) - T0 )) -ge $SECS ] && touch /tmp/runs/t2s/STOP
  [ $(( $(date +%s) - T0 )) -ge $(( SECS + 40 )) ] && { kill -9 "$(cat /tmp/runs/t2s/pid)"; break; }
  sleep 1
done
[ -f /tmp/runs/t2s.log ] && grep -v "Warning\|Tip:\|pytree" /tmp/runs/t2s.log | tail -8
cd /tmp/runs
for k in t2s s2a; do
  [ -d $k ] || continue
  if [ ! -f $k/$k-half.model ] && [ -f $k/checkpoints/last.ckpt ]; then  # killed: its last checkpoint
    python3 -c "import sys; from whisperspeech.cli import main; sys.exit(main(sys.argv[1:]))" train $k -o $k --export-only --half \
      && mv $k/$k.model $k/$k-half.model; fi
  [ -f $k/$k-half.model ] || continue
  split -b 15000000 -d $k/$k-half.model "$OUT/$k.model.part"
  cp /tmp/g/common/$k-metrics.csv $k-metrics.csv
  python3 /tmp/g/common/merge_metrics.py $k --until $k/$k-half.model -o $k-metrics.csv
  md5sum $k/$k-half.model
done
tar czf "$OUT/extras.tar.gz" ./*.log ./*-metrics.csv ./*/logs 2>/dev/null; ls -la "$OUT"; echo "call 2 took $(( $(date +%s) - T0 ))s"
