# Sourced by the lease calls: wheels into /tmp/site once per machine; code from a /tmp copy made once
# (a daemon started by an earlier call keeps importing from it)
if [ ! -f /tmp/site/soundfile.py ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/common/whl/*.whl || exit 1
fi
[ -d /tmp/g/common ] || { mkdir -p /tmp/g && cp -r .gpu/common /tmp/g/common; }
export PYTHONPATH=/tmp/g/common/code:/tmp/g/common/site:/tmp/site PYTHONUNBUFFERED=1
