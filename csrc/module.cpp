// The fusegen._C extension module. Importing it registers every operator under
// torch.ops.fusegen (the TORCH_LIBRARY blocks in csrc/ops run at load time); the module
// itself only reports how it was built.

#include "common/activation.h"
#include "common/cpu_isa.h"

#include <ATen/Parallel.h>
#include <pybind11/pybind11.h>

#ifdef FUSEGEN_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace py = pybind11;

namespace {

py::dict build_info() {
  py::dict info;
  info["version"] = FUSEGEN_VERSION;
  info["torch_version"] = FUSEGEN_TORCH_VERSION;
#ifdef FUSEGEN_WITH_CUDA
  info["cuda"] = true;
  info["cuda_version"] = std::to_string(CUDART_VERSION / 1000) + "." +
                         std::to_string((CUDART_VERSION % 1000) / 10);
  info["cuda_archs"] = FUSEGEN_CUDA_ARCHS;
#else
  info["cuda"] = false;
  info["cuda_version"] = py::none();
  info["cuda_archs"] = "";
#endif
#ifdef _OPENMP
  info["openmp"] = true;
#else
  info["openmp"] = false;
#endif
#if defined(__clang__)
  info["compiler"] = "clang " __clang_version__;
#elif defined(__GNUC__)
  info["compiler"] = "gcc " __VERSION__;
#else
  info["compiler"] = "unknown";
#endif
  return info;
}

// {name: code} of the Activation enum, to check python/fusegen/ops/activations.py against.
py::dict activation_codes() {
  py::dict codes;
  for (int64_t code = 0; code < fusegen::kNumActivations; ++code)
    codes[fusegen::activation_names[code]] = code;
  return codes;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "fusegen's compiled core: operators are registered in torch.ops.fusegen on import.";
  m.def("build_info", &build_info,
        "How this extension was built: version, torch version, CUDA, architectures, OpenMP.");
  m.def("num_threads", &at::get_num_threads, "Threads fusegen's CPU kernels use (ATen's setting).");
  m.def("activation_codes", &activation_codes,
        "The operators' activation codes, {name: code}, from the C++ Activation enum.");
  m.def("cpu_isa", &fusegen::cpu_isa_name,
        "Instruction set of the CPU kernel copies in use (norm+activation, weighted sum, NLM): "
        "avx512, avx2 or baseline (SSE2); FUSEGEN_CPU_ISA=baseline|avx2 caps it.");
}
