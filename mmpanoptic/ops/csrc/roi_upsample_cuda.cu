// RoIUpsample (AUNet, eq. (5)-(6)) CUDA kernels: forward scatter and its
// exact adjoint (backward gather). The geometry is mmcv
// RoIAlign(aligned=True) and must stay identical to
// mmpanoptic/ops/roi_upsample.py (roi_sample_geometry, the reference
// implementation) and to roi_upsample_cpu.cpp.
//
// Forward: one thread per (RoI, channel, bin). The bin value is split over
// its s x s sample points (R(p_g) = value / s^2) and every point adds it to
// its four neighbours with the normalised inverse-bilinear weights of
// eq. (5), (1 - x)(1 - y) / (v_x v_y) ..., v = w_low^2 + w_high^2 (eq. (6)).
// Overlapping RoIs (and neighbouring points) write to the same pixels, so
// the adds are atomic, as in mmcv's RoIAlign backward.
// Backward: one thread per (RoI, channel, bin) gathers the same weighted
// neighbours of grad_out; no atomics, deterministic.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/Atomic.cuh>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/extension.h>

namespace {

constexpr int kThreads = 256;

// One sample point along one axis, mmcv's bilinear border convention:
// dropped outside [-1, size]; clamped to 0 in [-1, 0); both neighbours are
// size - 1 (offset 0) from size - 1 on.
template <typename T>
struct AxisPoint {
  int low;
  int high;
  T w_low;
  T w_high;
  T norm;  // eq. (6): w_low^2 + w_high^2
  bool valid;
};

template <typename T>
__device__ __forceinline__ AxisPoint<T> axis_point(T start, T step, int j,
                                                   int size) {
  AxisPoint<T> p;
  // the operation order of mmcv's kernels: start + j * step + 0.5 * step
  T coord = start + static_cast<T>(j) * step + static_cast<T>(0.5) * step;
  p.valid = !(coord < static_cast<T>(-1.0) || coord > static_cast<T>(size));
  if (coord < 0) coord = 0;
  const T low = floor(coord);
  T frac;
  if (low >= static_cast<T>(size - 1)) {
    p.low = p.high = size - 1;
    frac = 0;
  } else {
    p.low = static_cast<int>(low);
    p.high = p.low + 1;
    frac = coord - low;
  }
  p.w_low = static_cast<T>(1) - frac;
  p.w_high = frac;
  p.norm = p.w_low * p.w_low + p.w_high * p.w_high;
  return p;
}

// RoI (b, x1, y1, x2, y2) -> batch index, start and step of its sample
// points on the map (aligned=True: shifted by half a pixel).
template <typename T>
struct RoIGrid {
  int batch;
  T start_x;
  T start_y;
  T step_x;
  T step_y;
};

template <typename scalar_t, typename T>
__device__ __forceinline__ RoIGrid<T> roi_grid(const scalar_t* roi,
                                              T spatial_scale, int points_h,
                                              int points_w) {
  RoIGrid<T> g;
  g.batch = static_cast<int>(roi[0]);
  const T x1 = static_cast<T>(roi[1]), y1 = static_cast<T>(roi[2]);
  const T x2 = static_cast<T>(roi[3]), y2 = static_cast<T>(roi[4]);
  g.start_x = x1 * spatial_scale - static_cast<T>(0.5);
  g.start_y = y1 * spatial_scale - static_cast<T>(0.5);
  g.step_x = (x2 - x1) * spatial_scale / static_cast<T>(points_w);
  g.step_y = (y2 - y1) * spatial_scale / static_cast<T>(points_h);
  return g;
}

template <typename scalar_t>
__global__ void roi_upsample_forward_kernel(
    const int64_t total, const scalar_t* __restrict__ roi_feats,
    const scalar_t* __restrict__ rois, scalar_t* __restrict__ out,
    const at::opmath_type<scalar_t> spatial_scale, const int channels,
    const int mh, const int mw, const int s, const int height,
    const int width) {
  using T = at::opmath_type<scalar_t>;
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) +
                       threadIdx.x;
       index < total; index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int j = index % mw;
    const int i = (index / mw) % mh;
    const int c = (index / mw / mh) % channels;
    const int64_t n = index / mw / mh / channels;
    const RoIGrid<T> g =
        roi_grid<scalar_t, T>(rois + n * 5, spatial_scale, mh * s, mw * s);
    // R(p_g) = value / s^2 (eq. (5))
    const T value =
        static_cast<T>(roi_feats[index]) / static_cast<T>(s * s);
    scalar_t* plane =
        out + (static_cast<int64_t>(g.batch) * channels + c) *
                  static_cast<int64_t>(height) * width;
    for (int iy = 0; iy < s; ++iy) {
      const AxisPoint<T> py = axis_point<T>(g.start_y, g.step_y, i * s + iy,
                                            height);
      if (!py.valid) continue;
      for (int ix = 0; ix < s; ++ix) {
        const AxisPoint<T> px = axis_point<T>(g.start_x, g.step_x,
                                              j * s + ix, width);
        if (!px.valid) continue;
        const T scaled = value / (px.norm * py.norm);  // eq. (5)-(6)
        gpuAtomicAdd(plane + py.low * width + px.low,
                     static_cast<scalar_t>(py.w_low * px.w_low * scaled));
        gpuAtomicAdd(plane + py.low * width + px.high,
                     static_cast<scalar_t>(py.w_low * px.w_high * scaled));
        gpuAtomicAdd(plane + py.high * width + px.low,
                     static_cast<scalar_t>(py.w_high * px.w_low * scaled));
        gpuAtomicAdd(plane + py.high * width + px.high,
                     static_cast<scalar_t>(py.w_high * px.w_high * scaled));
      }
    }
  }
}

template <typename scalar_t>
__global__ void roi_upsample_backward_kernel(
    const int64_t total, const scalar_t* __restrict__ grad_out,
    const scalar_t* __restrict__ rois, scalar_t* __restrict__ grad_feats,
    const at::opmath_type<scalar_t> spatial_scale, const int channels,
    const int mh, const int mw, const int s, const int height,
    const int width) {
  using T = at::opmath_type<scalar_t>;
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) +
                       threadIdx.x;
       index < total; index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int j = index % mw;
    const int i = (index / mw) % mh;
    const int c = (index / mw / mh) % channels;
    const int64_t n = index / mw / mh / channels;
    const RoIGrid<T> g =
        roi_grid<scalar_t, T>(rois + n * 5, spatial_scale, mh * s, mw * s);
    const scalar_t* plane =
        grad_out + (static_cast<int64_t>(g.batch) * channels + c) *
                       static_cast<int64_t>(height) * width;
    T acc = 0;
    for (int iy = 0; iy < s; ++iy) {
      const AxisPoint<T> py = axis_point<T>(g.start_y, g.step_y, i * s + iy,
                                            height);
      if (!py.valid) continue;
      for (int ix = 0; ix < s; ++ix) {
        const AxisPoint<T> px = axis_point<T>(g.start_x, g.step_x,
                                              j * s + ix, width);
        if (!px.valid) continue;
        const T point =
            py.w_low * px.w_low *
                static_cast<T>(plane[py.low * width + px.low]) +
            py.w_low * px.w_high *
                static_cast<T>(plane[py.low * width + px.high]) +
            py.w_high * px.w_low *
                static_cast<T>(plane[py.high * width + px.low]) +
            py.w_high * px.w_high *
                static_cast<T>(plane[py.high * width + px.high]);
        acc += point / (px.norm * py.norm);
      }
    }
    grad_feats[index] = static_cast<scalar_t>(acc / static_cast<T>(s * s));
  }
}

int num_blocks(int64_t total) {
  const int64_t blocks = (total + kThreads - 1) / kThreads;
  return static_cast<int>(std::min<int64_t>(blocks, 65535LL * 8));
}

void check(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cuda(), name, " must be a CUDA tensor");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

}  // namespace

// roi_feats (N, C, mh, mw), rois (N, 5) of roi_feats' dtype, out
// (B, C, H, W) zero-filled; all on one CUDA device.
void roi_upsample_forward(const torch::Tensor& roi_feats,
                          const torch::Tensor& rois, torch::Tensor out,
                          double spatial_scale, int64_t sampling_ratio) {
  check(roi_feats, "roi_feats");
  check(rois, "rois");
  check(out, "out");
  TORCH_CHECK(rois.scalar_type() == roi_feats.scalar_type() &&
                  out.scalar_type() == roi_feats.scalar_type(),
              "roi_feats, rois and out must have one dtype");
  const c10::cuda::CUDAGuard guard(roi_feats.device());
  const int64_t total = roi_feats.numel();
  if (total == 0) return;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::ScalarType::Half, at::ScalarType::BFloat16,
      roi_feats.scalar_type(), "roi_upsample_forward_cuda", [&] {
        roi_upsample_forward_kernel<scalar_t>
            <<<num_blocks(total), kThreads, 0, stream>>>(
                total, roi_feats.data_ptr<scalar_t>(),
                rois.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(),
                static_cast<at::opmath_type<scalar_t>>(spatial_scale),
                roi_feats.size(1), roi_feats.size(2), roi_feats.size(3),
                static_cast<int>(sampling_ratio), out.size(2), out.size(3));
      });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// grad_out (B, C, H, W), rois (N, 5), grad_feats (N, C, mh, mw) output.
void roi_upsample_backward(const torch::Tensor& grad_out,
                           const torch::Tensor& rois, torch::Tensor grad_feats,
                           double spatial_scale, int64_t sampling_ratio) {
  check(grad_out, "grad_out");
  check(rois, "rois");
  check(grad_feats, "grad_feats");
  TORCH_CHECK(rois.scalar_type() == grad_out.scalar_type() &&
                  grad_feats.scalar_type() == grad_out.scalar_type(),
              "grad_out, rois and grad_feats must have one dtype");
  const c10::cuda::CUDAGuard guard(grad_out.device());
  const int64_t total = grad_feats.numel();
  if (total == 0) return;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::ScalarType::Half, at::ScalarType::BFloat16,
      grad_out.scalar_type(), "roi_upsample_backward_cuda", [&] {
        roi_upsample_backward_kernel<scalar_t>
            <<<num_blocks(total), kThreads, 0, stream>>>(
                total, grad_out.data_ptr<scalar_t>(),
                rois.data_ptr<scalar_t>(), grad_feats.data_ptr<scalar_t>(),
                static_cast<at::opmath_type<scalar_t>>(spatial_scale),
                grad_feats.size(1), grad_feats.size(2), grad_feats.size(3),
                static_cast<int>(sampling_ratio), grad_out.size(2),
                grad_out.size(3));
      });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("roi_upsample_forward", &roi_upsample_forward,
        "RoIUpsample forward (CUDA)");
  m.def("roi_upsample_backward", &roi_upsample_backward,
        "RoIUpsample backward (CUDA)");
}
