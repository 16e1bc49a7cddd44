// Glue between Jazzer.js's native sources (from the @jazzer.js/fuzzer 2.1.0 npm tarball) and Debian's
// stock libFuzzer (libclang-rt-16-dev). Jazzer.js links a patched libFuzzer fork that adds a few entry
// points; here they are mapped onto the stock ones. See fuzz/README.md for why this build exists.
#include <cstddef>
#include <cstdint>
#include <napi.h>

namespace libfuzzer {
extern void (*PrintCrashingInput)();
}

extern "C" {
// Stock libFuzzer hands its "dump the current input as crash-<sha1> and print the stats" callback to
// the sanitizer runtime through this weak hook; the fork calls __jazzer_set_death_callback instead.
void __sanitizer_set_death_callback(void (*callback)()) { libfuzzer::PrintCrashingInput = callback; }
}

extern "C" {
void __sanitizer_cov_trace_const_cmp8(uint64_t arg1, uint64_t arg2);
void __sanitizer_cov_trace_pc_indir(uintptr_t callee);
void __sanitizer_cov_8bit_counters_init(uint8_t *start, uint8_t *end);
void __sanitizer_cov_pcs_init(const uintptr_t *pcs_beg, const uintptr_t *pcs_end);

// The fork's variants take the hook id as the PC; stock libFuzzer uses its caller's address, so the
// value profile is coarser (one PC for all JS comparisons) but the comparison operands still reach
// libFuzzer's table of recent compares, which is what guides mutations.
void __sanitizer_cov_trace_const_cmp8_with_pc(uintptr_t /*pc*/, uint64_t arg1, uint64_t arg2) {
  __sanitizer_cov_trace_const_cmp8(arg1, arg2);
}
void __sanitizer_cov_trace_pc_indir_with_pc(void * /*pc*/, uintptr_t callee) {
  __sanitizer_cov_trace_pc_indir(callee);
}
}

namespace {
struct PCTableEntry {
  uintptr_t PC, PCFlags;
};
uintptr_t gNextModulePc = uintptr_t(1) << 40;
} // namespace

// @jazzer.js/fuzzer 4.x registers one counter buffer per ES module (2.1.0 has no such call).
void RegisterModuleCounters(const Napi::CallbackInfo &info) {
  if (info.Length() != 1 || !info[0].IsBuffer()) {
    throw Napi::Error::New(info.Env(), "Expected a Buffer");
  }
  auto buf = info[0].As<Napi::Buffer<uint8_t>>();
  // libFuzzer keeps these pointers for the life of the process; the JS side keeps the Buffer alive.
  auto *pcs = new PCTableEntry[buf.Length()];
  for (std::size_t i = 0; i < buf.Length(); ++i) {
    pcs[i] = {gNextModulePc++, 0};
  }
  __sanitizer_cov_8bit_counters_init(buf.Data(), buf.Data() + buf.Length());
  __sanitizer_cov_pcs_init(reinterpret_cast<uintptr_t *>(pcs),
                           reinterpret_cast<uintptr_t *>(pcs + buf.Length()));
}
