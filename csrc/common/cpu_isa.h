#pragma once
// Run-time choice among copies of a CPU kernel compiled for several x86 instruction sets.
//
// A kernel file includes its kernel body three times, in namespaces `baseline`, `avx2` (under
// `#pragma GCC target("avx2")`) and `avx512` (under
// `#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq")`), when
// FUSEGEN_HAVE_ISA_COPIES is 1, and runs FUSEGEN_WITH_BEST_ISA(statement) with `isa` naming the
// namespace to use. The build's baseline is x86-64's SSE2; no FMA in any copy, so every copy
// rounds each product the same way. FUSEGEN_CPU_ISA=baseline|avx2 caps the choice.

#include <cstdlib>
#include <string_view>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FUSEGEN_HAVE_ISA_COPIES 1
#else
#define FUSEGEN_HAVE_ISA_COPIES 0
#endif

namespace fusegen {

enum class CpuIsa { Baseline, Avx2, Avx512 };

// The widest copy this CPU runs, capped by FUSEGEN_CPU_ISA; decided once per process.
inline CpuIsa best_cpu_isa() {
#if FUSEGEN_HAVE_ISA_COPIES
  static const CpuIsa isa = [] {
    const char* cap = std::getenv("FUSEGEN_CPU_ISA");
    const std::string_view limit = cap != nullptr ? cap : "";
    if (limit == "baseline" || !__builtin_cpu_supports("avx2")) return CpuIsa::Baseline;
    if (limit == "avx2" || !__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512vl") ||
        !__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512dq"))
      return CpuIsa::Avx2;
    return CpuIsa::Avx512;
  }();
  return isa;
#else
  return CpuIsa::Baseline;
#endif
}

// "avx512", "avx2" or "baseline".
inline const char* cpu_isa_name() {
  switch (best_cpu_isa()) {
    case CpuIsa::Avx512: return "avx512";
    case CpuIsa::Avx2: return "avx2";
    case CpuIsa::Baseline: return "baseline";
  }
  return "baseline";
}

}  // namespace fusegen

#if FUSEGEN_HAVE_ISA_COPIES
#define FUSEGEN_WITH_BEST_ISA(...)                \
  do {                                            \
    switch (::fusegen::best_cpu_isa()) {          \
      case ::fusegen::CpuIsa::Avx512: {           \
        namespace isa = avx512;                   \
        __VA_ARGS__;                              \
        break;                                    \
      }                                           \
      case ::fusegen::CpuIsa::Avx2: {             \
        namespace isa = avx2;                     \
        __VA_ARGS__;                              \
        break;                                    \
      }                                           \
      case ::fusegen::CpuIsa::Baseline: {         \
        namespace isa = baseline;                 \
        __VA_ARGS__;                              \
        break;                                    \
      }                                           \
    }                                             \
  } while (0)
#else
#define FUSEGEN_WITH_BEST_ISA(...) \
  do {                             \
    namespace isa = baseline;      \
    __VA_ARGS__;                   \
  } while (0)
#endif
