#!/usr/bin/env bash
# Builds .gpu/ (git-ignored) for a GPU lease: our code, the pure-Python packages the lease image lacks,
# wheels of the compiled ones, and per model its packed training tokens and committed partial export.
# See README.md beside this file for the calls that use it.
set -euo pipefail
cd "$(dirname "$0")/../.."
G=.gpu; py=.venv/bin/python
SP=$($py -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
grep -qx "/.gpu/" .git/info/exclude || echo "/.gpu/" >> .git/info/exclude
rm -rf $G; mkdir -p $G/common/code $G/common/site $G/common/whl $G/t2s $G/s2a
cp -r whisperspeech $G/common/code/ && rm -rf $G/common/code/whisperspeech/voice
for p in encodec vocos whisper webdataset braceexpand vector_quantize_pytorch; do cp -r "$SP/$p" $G/common/site/; done
rm -rf $G/common/site/whisper/assets  # tokenizer files: training needs only whisper's language table
find $G -name __pycache__ -prune -exec rm -rf {} +
pins=$($py -c "import importlib.metadata as m; print(' '.join(f'{p}=={m.version(p)}' for p in ('soundfile', 'cffi', 'pycparser')))")
$py -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d $G/common/whl $pins
cp scripts/gpu_lease/{runner.py,lease_tokens.py,env.sh,start_t2s.sh,train_s2a_and_collect.sh} scripts/merge_metrics.py \
   docs/logs/{t2s,s2a}-metrics.csv $G/common/
for k in t2s s2a; do
  start=whisperspeech/voice/partial/$k.model; [ -f $start ] || start=whisperspeech/voice/$k.model  # continue the partial, else the shipped one
  cp $start $G/$k/$k.model
  $py scripts/gpu_lease/lease_tokens.py pack $k datasets/voice-tokens $G/$k/data.xz &
done
wait
du -sh $G/*  # each call's tree: common + one model's folder, under 64 MiB
