// RoIUpsample (AUNet, eq. (5)-(6)) CPU kernels: forward scatter and its exact
// adjoint (backward gather). The geometry is mmcv RoIAlign(aligned=True) and
// must stay identical to mmpanoptic/ops/roi_upsample.py
// (roi_sample_geometry), which is the reference implementation.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <cmath>
#include <vector>

namespace {

template <typename T>
struct AxisPoint {
  int low;
  int high;
  T w_low;
  T w_high;
  T norm;  // eq. (6): w_low^2 + w_high^2
  bool valid;
};

// Sample points along one axis: coord_j = start + j * step + 0.5 * step,
// mmcv's bilinear border convention.
template <typename T>
std::vector<AxisPoint<T>> axis_points(T start, T length, int num_points,
                                      int size) {
  std::vector<AxisPoint<T>> points(num_points);
  const T step = length / static_cast<T>(num_points);
  for (int j = 0; j < num_points; ++j) {
    T coord = start + static_cast<T>(j) * step + static_cast<T>(0.5) * step;
    AxisPoint<T>& p = points[j];
    p.valid = !(coord < static_cast<T>(-1.0) || coord > static_cast<T>(size));
    if (coord < 0) coord = 0;
    T low = std::floor(coord);
    T frac;
    if (low >= size - 1) {
      p.low = p.high = size - 1;
      frac = 0;
    } else {
      p.low = static_cast<int>(low);
      p.high = p.low + 1;
      frac = coord - low;
    }
    p.w_low = 1 - frac;
    p.w_high = frac;
    p.norm = p.w_low * p.w_low + p.w_high * p.w_high;
  }
  return points;
}

// Per RoI: for every bin and each of its s*s points, the 4 neighbour
// offsets and the weights (1-x)(1-y)/(v_x v_y)/s^2 ... of eq. (5).
template <typename T>
void roi_corners(const T* roi, T spatial_scale, int mh, int mw, int s,
                 int height, int width, std::vector<int>& pos,
                 std::vector<T>& weight) {
  const T start_x = roi[1] * spatial_scale - static_cast<T>(0.5);
  const T start_y = roi[2] * spatial_scale - static_cast<T>(0.5);
  const T len_x = (roi[3] - roi[1]) * spatial_scale;
  const T len_y = (roi[4] - roi[2]) * spatial_scale;
  const auto ys = axis_points<T>(start_y, len_y, mh * s, height);
  const auto xs = axis_points<T>(start_x, len_x, mw * s, width);
  const T split = static_cast<T>(1) / static_cast<T>(s * s);  // R(p_g)
  const int per_bin = s * s * 4;
  pos.assign(static_cast<size_t>(mh) * mw * per_bin, 0);
  weight.assign(static_cast<size_t>(mh) * mw * per_bin, 0);
  for (int i = 0; i < mh; ++i) {
    for (int j = 0; j < mw; ++j) {
      size_t k = (static_cast<size_t>(i) * mw + j) * per_bin;
      for (int iy = 0; iy < s; ++iy) {
        const AxisPoint<T>& py = ys[i * s + iy];
        for (int ix = 0; ix < s; ++ix, k += 4) {
          const AxisPoint<T>& px = xs[j * s + ix];
          if (!(py.valid && px.valid)) continue;  // weights stay 0
          const T scale = split / (px.norm * py.norm);
          pos[k] = py.low * width + px.low;
          pos[k + 1] = py.low * width + px.high;
          pos[k + 2] = py.high * width + px.low;
          pos[k + 3] = py.high * width + px.high;
          weight[k] = py.w_low * px.w_low * scale;
          weight[k + 1] = py.w_low * px.w_high * scale;
          weight[k + 2] = py.w_high * px.w_low * scale;
          weight[k + 3] = py.w_high * px.w_high * scale;
        }
      }
    }
  }
}

template <typename T>
void forward_impl(const torch::Tensor& roi_feats, const torch::Tensor& rois,
                  torch::Tensor& out, T spatial_scale, int s) {
  const int num_rois = roi_feats.size(0), channels = roi_feats.size(1);
  const int mh = roi_feats.size(2), mw = roi_feats.size(3);
  const int height = out.size(2), width = out.size(3);
  const int per_bin = s * s * 4, bins = mh * mw;
  const T* feats = roi_feats.data_ptr<T>();
  const T* roi_data = rois.data_ptr<T>();
  T* out_data = out.data_ptr<T>();
  std::vector<int> pos;
  std::vector<T> weight;
  for (int n = 0; n < num_rois; ++n) {
    const T* roi = roi_data + n * 5;
    const int b = static_cast<int>(roi[0]);
    roi_corners<T>(roi, spatial_scale, mh, mw, s, height, width, pos, weight);
    // channels write to disjoint planes: no races
    at::parallel_for(0, channels, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const T* src = feats + (static_cast<int64_t>(n) * channels + c) * bins;
        T* dst = out_data + (static_cast<int64_t>(b) * channels + c) *
                                static_cast<int64_t>(height) * width;
        for (int bin = 0; bin < bins; ++bin) {
          const T value = src[bin];
          const int* p = pos.data() + static_cast<size_t>(bin) * per_bin;
          const T* w = weight.data() + static_cast<size_t>(bin) * per_bin;
          for (int k = 0; k < per_bin; ++k) dst[p[k]] += w[k] * value;
        }
      }
    });
  }
}

template <typename T>
void backward_impl(const torch::Tensor& grad_out, const torch::Tensor& rois,
                   torch::Tensor& grad_feats, T spatial_scale, int s) {
  const int num_rois = grad_feats.size(0), channels = grad_feats.size(1);
  const int mh = grad_feats.size(2), mw = grad_feats.size(3);
  const int height = grad_out.size(2), width = grad_out.size(3);
  const int per_bin = s * s * 4, bins = mh * mw;
  const T* grad = grad_out.data_ptr<T>();
  const T* roi_data = rois.data_ptr<T>();
  T* grad_feat_data = grad_feats.data_ptr<T>();
  std::vector<int> pos;
  std::vector<T> weight;
  for (int n = 0; n < num_rois; ++n) {
    const T* roi = roi_data + n * 5;
    const int b = static_cast<int>(roi[0]);
    roi_corners<T>(roi, spatial_scale, mh, mw, s, height, width, pos, weight);
    at::parallel_for(0, channels, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const T* src = grad + (static_cast<int64_t>(b) * channels + c) *
                                  static_cast<int64_t>(height) * width;
        T* dst = grad_feat_data +
                 (static_cast<int64_t>(n) * channels + c) * bins;
        for (int bin = 0; bin < bins; ++bin) {
          const int* p = pos.data() + static_cast<size_t>(bin) * per_bin;
          const T* w = weight.data() + static_cast<size_t>(bin) * per_bin;
          T acc = 0;
          for (int k = 0; k < per_bin; ++k) acc += w[k] * src[p[k]];
          dst[bin] = acc;
        }
      }
    });
  }
}

void check(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be a CPU tensor");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

}  // namespace

// roi_feats (N, C, mh, mw), rois (N, 5), out (B, C, H, W) zero-filled.
void roi_upsample_forward(const torch::Tensor& roi_feats,
                          const torch::Tensor& rois, torch::Tensor out,
                          double spatial_scale, int64_t sampling_ratio) {
  check(roi_feats, "roi_feats");
  check(rois, "rois");
  check(out, "out");
  AT_DISPATCH_FLOATING_TYPES(roi_feats.scalar_type(), "roi_upsample_forward",
                             [&] {
                               forward_impl<scalar_t>(
                                   roi_feats, rois, out,
                                   static_cast<scalar_t>(spatial_scale),
                                   static_cast<int>(sampling_ratio));
                             });
}

// grad_out (B, C, H, W), rois (N, 5), grad_feats (N, C, mh, mw) output.
void roi_upsample_backward(const torch::Tensor& grad_out,
                           const torch::Tensor& rois, torch::Tensor grad_feats,
                           double spatial_scale, int64_t sampling_ratio) {
  check(grad_out, "grad_out");
  check(rois, "rois");
  check(grad_feats, "grad_feats");
  AT_DISPATCH_FLOATING_TYPES(grad_out.scalar_type(), "roi_upsample_backward",
                             [&] {
                               backward_impl<scalar_t>(
                                   grad_out, rois, grad_feats,
                                   static_cast<scalar_t>(spatial_scale),
                                   static_cast<int>(sampling_ratio));
                             });
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("roi_upsample_forward", &roi_upsample_forward,
        "RoIUpsample forward (CPU)");
  m.def("roi_upsample_backward", &roi_upsample_backward,
        "RoIUpsample backward (CPU)");
}
