// CPU kernels of the fused normalization + activation (see norm_act.h for the four passes).
//
// NCHW tensors are walked plane by plane (one (n, c) plane is S contiguous values, cut into
// segments when long); channels-last tensors row by row (one row holds the C channels of one
// pixel). Reductions first produce partial results per work item (a plane segment, or a block
// of rows of one sample) in float32/float64
// over L1-sized chunks, then merge them in double in a fixed order: the result does not depend
// on the thread count. Work items run in parallel with at::parallel_for.

#include "ops/norm_act/norm_act.h"

#include "ops/norm_act/coefficients.h"
#include "ops/norm_act/input_grad.h"

#include "common/activation_cpu.h"
#include "common/checks.h"
#include "common/cpu_isa.h"
#include "common/device_op.h"
#include "common/dispatch.h"
#include "common/float_convert.h"

#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

namespace fusegen::norm_act {
namespace {

// Values a reduction chunk (NCHW) or a block of rows (channels-last) covers: small enough to
// stay in L1 between the two sweeps of the variance, large enough to amortize the merge.
constexpr int64_t kChunk = 2048;
// Below this many values per task, threading costs more than it saves.
constexpr int64_t kMinWorkPerTask = 1 << 15;

int64_t grain_for(int64_t values_per_item) {
  return std::max<int64_t>(1, kMinWorkPerTask / std::max<int64_t>(values_per_item, 1));
}

// Offset of sample n's coefficients in a (G, C) vector.
inline int64_t coeff_offset(const Layout& l, int64_t n) { return l.per_sample ? n * l.channels : 0; }

// NCHW work items are segments of one (n, c) plane: the whole plane up to this many values, so
// that few large planes (one big image) still spread over the threads. A constant rather than a
// function of the thread count, so that reductions merge the same partials on every machine.
constexpr int64_t kSegment = 16 * kChunk;

// An NCHW work item: values [begin, begin + len) of plane `plane`, which sits at `offset`.
struct Segment {
  int64_t plane, begin, len, offset;
};

struct PlaneSplit {
  int64_t per_plane;  // segments per plane
  int64_t length;     // values per segment (the last one of a plane may be shorter)
  int64_t items(const Layout& l) const { return l.batch * l.channels * per_plane; }
  Segment operator()(int64_t item, const Layout& l) const {
    const int64_t plane = item / per_plane, begin = (item % per_plane) * length;
    // Clamped: past 2^30 values a plane's rounded-up segments can leave its last one empty.
    const int64_t len = std::clamp<int64_t>(l.spatial - begin, 0, length);
    return {plane, begin, len, plane * l.spatial + begin};
  }
};

PlaneSplit split_planes(const Layout& l) {
  const int64_t per_plane = ceil_div(l.spatial, kSegment);
  return {per_plane, ceil_div(l.spatial, per_plane)};
}

// NCHW planes at most this long are reduced per channel for batch statistics: one work item
// holds all N planes of a channel, summed lane by lane, and merges once per ~kChunk values.
// Plane by plane, a DCGAN's 4x4 maps would be thousands of 16-value work items with a merge
// each, and the fused pass ran 1.5x slower than ATen's batch norm + activation.
constexpr int64_t kSmallPlane = 256;

inline bool small_planes(const Layout& l) {
  return !l.channels_last && !l.per_sample && l.spatial <= kSmallPlane;
}

// Planes of one channel reduced between two merges of a small-plane reduction.
inline int64_t planes_per_chunk(const Layout& l) {
  return std::max<int64_t>(1, kChunk / std::max<int64_t>(l.spatial, 1));
}

// Channels-last reductions split each sample's S rows into blocks of this many rows.
int64_t rows_per_block(const Layout& l) {
  return std::clamp<int64_t>(kChunk / std::max<int64_t>(l.channels, 1), 1, std::max<int64_t>(l.spatial, 1));
}

// Count, mean and sum of squared deviations, merged with Chan et al.'s pairwise formula.
struct Moments {
  double count = 0, mean = 0, m2 = 0;
  void merge(double n, double m, double q) {
    if (n == 0) return;
    const double total = count + n;
    const double delta = m - mean;
    mean += delta * n / total;
    m2 += q + delta * delta * count * n / total;
    count = total;
  }
};

template <typename T>
const T* in(const at::Tensor& t) { return t.const_data_ptr<T>(); }
template <typename T>
T* out_ptr(at::Tensor& t) { return t.mutable_data_ptr<T>(); }

// Copies of the kernels for the baseline, AVX2 and AVX-512 (common/cpu_isa.h): two and four
// times the SIMD width for the reductions and the Tanh/Sigmoid/SiLU polynomials.
#define FUSEGEN_ISA_KERNEL_BODY "ops/norm_act/norm_act_cpu_kernel.h"
#include "common/cpu_isa_copies.inc"

void stats_cpu(const at::Tensor& y, const Layout& l, at::Tensor& mean, at::Tensor& var) {
  FUSEGEN_WITH_BEST_ISA(FUSEGEN_DISPATCH_FLOATS(
      y.scalar_type(), "fusegen_norm_stats_cpu", [&] { isa::stats_kernel<scalar_t>(y, l, mean, var); }));
}

void apply_cpu(const at::Tensor& y, const Layout& l, const at::Tensor& scale,
               const at::Tensor& shift, ActParams act, at::Tensor& out) {
  FUSEGEN_WITH_BEST_ISA(FUSEGEN_DISPATCH_FLOATS(y.scalar_type(), "fusegen_norm_act_apply_cpu", [&] {
    dispatch_activation(act.kind, [&](auto tag) {
      isa::apply_kernel<scalar_t, decltype(tag)::value>(y, l, scale, shift, act.negative_slope, out);
    });
  }));
}

void grad_sums_cpu(const at::Tensor& grad_out, const at::Tensor& y, const Layout& l,
                   const at::Tensor& scale, const at::Tensor& shift, const at::Tensor& center,
                   ActParams act, at::Tensor& sum_dz, at::Tensor& sum_dz_yc) {
  FUSEGEN_WITH_BEST_ISA(FUSEGEN_DISPATCH_FLOATS(y.scalar_type(), "fusegen_norm_act_grad_sums_cpu", [&] {
    dispatch_activation(act.kind, [&](auto tag) {
      isa::grad_sums_kernel<scalar_t, decltype(tag)::value>(grad_out, y, l, scale, shift, center,
                                                       act.negative_slope, sum_dz, sum_dz_yc);
    });
  }));
}

void grad_input_cpu(const at::Tensor& grad_out, const at::Tensor& y, const Layout& l,
                    const at::Tensor& scale, const at::Tensor& shift, const at::Tensor& center,
                    ActParams act, const at::Tensor& alpha, const at::Tensor& beta,
                    const at::Tensor& gamma, at::Tensor& grad_y) {
  FUSEGEN_WITH_BEST_ISA(FUSEGEN_DISPATCH_FLOATS(y.scalar_type(), "fusegen_norm_act_grad_input_cpu", [&] {
    dispatch_activation(act.kind, [&](auto tag) {
      isa::grad_input_kernel<scalar_t, decltype(tag)::value>(grad_out, y, l, scale, shift, center,
                                                        act.negative_slope, alpha, beta, gamma,
                                                        grad_y);
    });
  }));
}

// The (G, C) steps of coefficients.h: a plain loop (C values are too few to thread).
struct RunOnCpu {
  template <typename Step>
  void operator()(int64_t n, const Step& step) const {
    for (int64_t i = 0; i < n; ++i) step(i);
  }
};

}  // namespace

const Passes cpu_passes{c10::DeviceType::CPU,
                        &stats_cpu,
                        &apply_cpu,
                        &grad_sums_cpu,
                        &grad_input_cpu,
                        &forward_coefficients<RunOnCpu>,
                        &backward_coefficients<RunOnCpu>,
                        &parameter_gradients<RunOnCpu>,
                        &update_running_stats<RunOnCpu>};

TORCH_LIBRARY_IMPL(fusegen, CPU, m) {
  m.impl("norm_act_forward", &OnDevice<Passes, &cpu_passes, &norm_act_forward>::call);
  m.impl("norm_act_backward", &OnDevice<Passes, &cpu_passes, &norm_act_backward>::call);
  m.impl("norm_act_update_running_stats",
         &OnDevice<Passes, &cpu_passes, &norm_act_update_running_stats>::call);
}

}  // namespace fusegen::norm_act
