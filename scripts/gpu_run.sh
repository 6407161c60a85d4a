#!/bin/bash
# One GPU-machine run (packed by scripts/pack_gpu_run.sh): unpacks Node, Dawn and the Vulkan loader, then times
# vlgrad's webgpu device and the cpu device (bench/device_layer.ts, bench/albef_step.ts --profile), and
# (WGSL_AB=1, the default) webgpu once more with the tiled WGSL matmul turned off (gpu.js's matmul kernel).
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_run}; mkdir -p "$OUT"
exec > >(tee "$OUT/run.log") 2>&1
echo "== $(date -u) host $(hostname) $(nproc) CPUs"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv 2>&1 | head -3
# The Vulkan loader (and glvnd, which NVIDIA's Vulkan driver loads through libGLX_nvidia) from .gl:
# without glvnd the loader finds the driver but vkCreateInstance fails (seen on an H200 machine).
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
ldconfig -p | grep "libvulkan\.so\.1\|libGLX_nvidia\|libGLdispatch"; g=$(ldconfig -p | grep libGLX_nvidia.so.0 | awk "{print \$NF}" | head -1); [ -n "$g" ] && ldd $g | grep -i "not found"; ls /dev/nvidia* | tr "\n" " "; echo
ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d 2>&1 | head -12
if ! ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1 && \
   [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  echo "VK_DRIVER_FILES=$VK_DRIVER_FILES"
fi
export XDG_RUNTIME_DIR=/tmp/xdg; mkdir -p $XDG_RUNTIME_DIR
NODE=/tmp/node
if command -v xz >/dev/null; then xz -dc .gpu/node.xz > $NODE; xz -dc .gpu/dawn.node.xz > /tmp/dawn.node
else python3 -c "import lzma,shutil
for a,b in (('.gpu/node.xz','$NODE'),('.gpu/dawn.node.xz','/tmp/dawn.node')):
    shutil.copyfileobj(lzma.open(a),open(b,'wb'))"; fi
chmod +x $NODE; mkdir -p .gpu/node_modules/webgpu/dist/linux-x64; mv /tmp/dawn.node .gpu/node_modules/webgpu/dist/linux-x64/
echo "node $($NODE -v)"
(cd .gpu && timeout 60 $NODE webgpu_adapter.mjs 2>&1 | grep -v 'artificially reduced' | head -40) | tee "$OUT/adapter.txt"
echo "== device_layer $(date -u +%T)"
timeout 200 $NODE .gpu/device_layer.mjs --devices ${DEVICES:-webgpu,cpu} --runs ${RUNS:-20} --matmul ${MATMUL:-512,2048} --python python3 --profile 2>&1 \
  | grep -v 'artificially reduced' | tee "$OUT/layer.txt"
if [ "${WGSL_AB:-1}" = 1 ]; then # gpu.js's own matmul kernel instead of the tiled WGSL one, same machine, for A/B
  echo "== device_layer, VLGRAD_WGSL_MATMUL=0 $(date -u +%T)"
  VLGRAD_WGSL_MATMUL=0 timeout 120 $NODE .gpu/device_layer.mjs --devices webgpu --runs ${RUNS:-20} --matmul ${MATMUL:-512,2048} --python none --profile 2>&1 \
    | grep -v 'artificially reduced' | tee "$OUT/layer_wgsl.txt"
  VLGRAD_WGSL_MATMUL=0 timeout 120 $NODE .gpu/albef_step.mjs --devices webgpu --batch 16 --repeats ${REPEATS:-5} --profile 2>&1 \
    | grep -v 'artificially reduced' | tee "$OUT/albef_wgsl.txt"
fi
echo "== albef_step $(date -u +%T)"
timeout 200 $NODE .gpu/albef_step.mjs --devices ${DEVICES:-webgpu,cpu} --batch ${BATCH:-16,32} --repeats ${REPEATS:-5} --profile 2>&1 \
  | grep -v 'artificially reduced' | tee "$OUT/albef.txt"
echo "== end $(date -u +%T)"
