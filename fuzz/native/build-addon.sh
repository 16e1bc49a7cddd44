#!/usr/bin/env bash
# Builds Jazzer.js's native fuzzer addon on this machine, when the prebuilt one that
# @jazzer.js/fuzzer 4.0.0 ships cannot load (it needs glibc 2.38: __isoc23_strtol; Debian 12 has 2.36).
#
# The 4.0.0 npm tarball has no C++ sources and the upstream build downloads a patched LLVM from a
# code host, which this machine cannot reach. So: the C++ sources come from the @jazzer.js/fuzzer
# 2.1.0 npm tarball (the last that ships them; same native API as 4.0.0 but one call), libFuzzer from
# Debian's libclang-rt-16-dev, and fuzz/native/shim.cpp maps the fork's extra entry points onto stock
# libFuzzer. The result replaces the prebuild that @jazzer.js/fuzzer loads.
#
# Idempotent: does nothing when the installed addon already loads.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
target=node_modules/@jazzer.js/fuzzer/prebuilds/fuzzer-linux-x64.node
if node -e "require('@jazzer.js/fuzzer')" 2>/dev/null; then
  echo "jazzer addon: the installed addon loads; nothing to build"
  exit 0
fi
[ "$(uname -sm)" = "Linux x86_64" ] || { echo "jazzer addon: only Linux x86_64 is handled here" >&2; exit 1; }

libfuzzer=/usr/lib/llvm-16/lib/clang/16/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a
if [ ! -f "$libfuzzer" ]; then
  echo "jazzer addon: installing libclang-rt-16-dev (Debian's libFuzzer)"
  if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
  $sudo apt-get install -y -q libclang-rt-16-dev >/dev/null || {
    $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q libclang-rt-16-dev >/dev/null; }
fi
nodeinc=${npm_config_nodedir:-/usr}/include/node
[ -f "$nodeinc/node_api.h" ] || nodeinc=$(dirname "$(command -v node)")/../include/node
[ -f "$nodeinc/node_api.h" ] || { echo "jazzer addon: Node's headers (node_api.h) not found" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent @jazzer.js/fuzzer@2.1.0 >/dev/null && tar xzf jazzer.js-fuzzer-2.1.0.tgz)
src=$work/package
# Export the one call 4.0.0 adds (RegisterModuleCounters, defined in shim.cpp).
sed -i 's|^  RegisterCallbackExports(env, exports);|  RegisterCallbackExports(env, exports);\n  exports["registerModuleCounters"] = Napi::Function::New<RegisterModuleCounters>(env);|' \
  "$src/addon.cpp"
sed -i 's|^Napi::Object Init(|void RegisterModuleCounters(const Napi::CallbackInfo \&info);\nNapi::Object Init(|' "$src/addon.cpp"
grep -q registerModuleCounters "$src/addon.cpp" || { echo "jazzer addon: could not patch addon.cpp" >&2; exit 1; }

addonapi=$(node -p "require('path').dirname(require.resolve('node-addon-api/package.json', {paths: [require.resolve('@jazzer.js/fuzzer/package.json')]}))")
out=$work/fuzzer-linux-x64.node
echo "jazzer addon: compiling (g++, about a minute)"
g++ -std=c++17 -O2 -fPIC -shared -DNAPI_VERSION=4 -DNAPI_CPP_EXCEPTIONS -fexceptions \
  -I"$nodeinc" -I"$addonapi" -I"$root/fuzz/native/include" -I"$src" \
  "$src"/*.cpp "$src"/shared/*.cpp "$root/fuzz/native/shim.cpp" \
  -Wl,--whole-archive "$libfuzzer" -Wl,--no-whole-archive -lpthread -o "$out"
[ -f "$target.prebuilt" ] || cp "$target" "$target.prebuilt"
cp "$out" "$target"
node -e "require('@jazzer.js/fuzzer')" && echo "jazzer addon: built and installed at $target"
