# Call 1: T2S as a daemon (setsid) that outlives this call; returns once its first steps are logged
set -u; T0=$(date +%s)
. .gpu/common/env.sh
nvidia-smi -L; nproc
python3 /tmp/g/common/lease_tokens.py unpack .gpu/t2s/data.xz /tmp/vt-t2s || exit 1
rm -rf /tmp/runs/t2s; mkdir -p /tmp/runs/t2s
setsid nohup python3 /tmp/g/common/runner.py t2s "/tmp/vt-t2s/*/*.tar" /tmp/runs/t2s $PWD/.gpu/t2s/t2s.model \
    ${T2S_STEPS:-20000} ${T2S_SECS:-560} ${WORKERS:-6} > /tmp/runs/t2s.log 2>&1 < /dev/null &
for i in $(seq 75); do sleep 1; grep -q "step 10 \|Error\|DONE" /tmp/runs/t2s.log && break; done
grep -v "Warning\|Tip:\|pytree" /tmp/runs/t2s.log | tail -12; echo "call 1 took $(( $(date +%s) - T0 ))s"
