#!/bin/bash
# Packs what a bare Linux x86-64 machine with a GPU (and a Vulkan driver, but no Node) needs to time
# vlgrad's webgpu device: Node itself, the bench scripts bundled with esbuild, gpu.js and Dawn (the
# `webgpu` package), and the Vulkan loader's .deb files. Writes .gpu/ and .gl/ (both git-ignored,
# ~31 MiB together); on the GPU machine, from a checkout holding them, run `bash .gpu/run.sh`
# (a copy of scripts/gpu_run.sh). Needs npm ci done, xz, and apt-get download (Debian/Ubuntu).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .gpu && mkdir -p .gpu/node_modules/gpu.js .gpu/node_modules/webgpu .gl
for f in device_layer albef_step; do
  npx esbuild "bench/$f.ts" --bundle --platform=node --format=esm --target=node20 --keep-names \
    --external:gpu.js --external:webgpu --outfile=".gpu/$f.mjs" --log-level=warning
done
cp tools/webgpu_adapter.mjs .gpu/
cp scripts/gpu_run.sh .gpu/run.sh
cp -r node_modules/gpu.js/package.json node_modules/gpu.js/src .gpu/node_modules/gpu.js/
cp -r node_modules/gpu.js/node_modules/acorn node_modules/gpu-mock.js .gpu/node_modules/
cp node_modules/webgpu/package.json node_modules/webgpu/index.js .gpu/node_modules/webgpu/
xz -T0 -9 -c node_modules/webgpu/dist/linux-x64/dawn.node > .gpu/dawn.node.xz
xz -T0 -9 -c "$(command -v node)" > .gpu/node.xz
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
mkdir -p /tmp/amd64/partial
# shellcheck disable=SC2086
apt-get $o update -qq
# shellcheck disable=SC2086
(cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
du -sh .gpu .gl
