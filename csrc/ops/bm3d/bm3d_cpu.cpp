// CPU kernels for BM3D: bands of reference blocks in parallel (at::parallel_for), each band's
// matching, filtering and aggregation in one task (bm3d_cpu_kernel.h), compiled once per
// instruction set (common/cpu_isa.h); FUSEGEN_CPU_ISA caps the choice, as for the other kernels.

#include "ops/bm3d/bm3d.h"

#include "common/checks.h"
#include "common/cpu_isa.h"
#include "common/device_op.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <bit>
#include <limits>
#include <type_traits>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

namespace fusegen::bm3d {
namespace {

#define FUSEGEN_ISA_KERNEL_BODY "ops/bm3d/bm3d_cpu_kernel.h"
#include "common/cpu_isa_copies.inc"

void basic_cpu(const at::Tensor& noisy, const std::vector<double>& sigma, const StageParams& p,
               at::Tensor& out) {
  FUSEGEN_WITH_BEST_ISA(AT_DISPATCH_FLOATING_TYPES(
      noisy.scalar_type(), "fusegen::bm3d_denoise (CPU)",
      [&] { isa::run_stage<scalar_t>(noisy, nullptr, sigma, p, out); }));
}

void final_cpu(const at::Tensor& noisy, const at::Tensor& basic, const std::vector<double>& sigma,
               const StageParams& p, at::Tensor& out) {
  FUSEGEN_WITH_BEST_ISA(AT_DISPATCH_FLOATING_TYPES(
      noisy.scalar_type(), "fusegen::bm3d_denoise (CPU)",
      [&] { isa::run_stage<scalar_t>(noisy, &basic, sigma, p, out); }));
}

}  // namespace

const Kernels cpu_kernels{c10::DeviceType::CPU, &basic_cpu, &final_cpu};

TORCH_LIBRARY_IMPL(fusegen, CPU, m) {
  m.impl("bm3d_denoise", &OnDevice<Kernels, &cpu_kernels, &bm3d_denoise>::call);
}

}  // namespace fusegen::bm3d
