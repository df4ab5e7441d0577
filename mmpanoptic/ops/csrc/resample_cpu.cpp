// Fused "resample bilinearly, then decide" CPU kernels for inference
// post-processing: the channel argmax of upsampled logits and the threshold
// of upsampled mask probabilities, without materialising the upsampled maps.
// The reference (and the fallback) is the F.interpolate + max / > path in
// mmpanoptic/ops/resample.py.
//
// A resampling is separable and linear: out[y, x] = sum_{t, u} ry[y, t]
// rx[x, u] in[iy[y, t], ix[x, u]], with per-output-row taps (iy, ry) and
// per-output-column taps (ix, rx) that mmpanoptic/ops/resample.py derives
// from F.interpolate itself. The weights of one output row (column) are
// convex (>= 0, sum 1), so an output value lies between the minimum and the
// maximum of its taps. Output columns with the same taps form a run (4
// columns per input column for a x4 upsampling); per run, a channel whose
// maximum tap is below the largest minimum tap over channels cannot win the
// argmax, and a mask whose taps are all above (all at or below) the
// threshold is decided without evaluating it.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <limits>
#include <vector>

namespace {

void check_taps(const at::Tensor& index, const at::Tensor& weight,
                const char* name) {
  TORCH_CHECK(index.dim() == 2 && weight.sizes() == index.sizes(), name,
              ": index and weight must be (size, taps) of equal shape");
  TORCH_CHECK(index.scalar_type() == at::kLong, name, ": index must be int64");
  TORCH_CHECK(weight.scalar_type() == at::kFloat, name,
              ": weight must be float32");
  TORCH_CHECK(index.is_contiguous() && weight.is_contiguous(), name,
              ": taps must be contiguous");
}

// Runs of equal taps: starts[r] .. starts[r + 1] - 1 share their taps.
std::vector<int64_t> tap_runs(const int64_t* index, int64_t size,
                              int64_t taps) {
  std::vector<int64_t> starts;
  for (int64_t o = 0; o < size; ++o) {
    bool equal = o > 0;
    for (int64_t u = 0; equal && u < taps; ++u) {
      equal = index[o * taps + u] == index[(o - 1) * taps + u];
    }
    if (!equal) starts.push_back(o);
  }
  starts.push_back(size);
  return starts;
}

}  // namespace

// maps (K, h, w) float32 -> (H, W) int64: argmax over K of the resampled
// maps; the first channel wins ties (as torch.max). The maps are made
// channels-last once; per block of output pixels sharing their row and
// column taps (a cell of the input grid), the candidate channels are found
// from the cell's corner values, and only those are evaluated per pixel.
at::Tensor resample_argmax(const at::Tensor& maps, const at::Tensor& row_index,
                           const at::Tensor& row_weight,
                           const at::Tensor& col_index,
                           const at::Tensor& col_weight) {
  TORCH_CHECK(maps.device().is_cpu(), "resample_argmax: CPU tensors only");
  TORCH_CHECK(maps.dim() == 3 && maps.scalar_type() == at::kFloat,
              "resample_argmax: maps must be (K, h, w) float32");
  TORCH_CHECK(maps.size(0) > 0, "resample_argmax: no channels");
  check_taps(row_index, row_weight, "rows");
  check_taps(col_index, col_weight, "columns");
  const at::Tensor src = maps.permute({1, 2, 0}).contiguous();  // (h, w, K)
  const int64_t channels = maps.size(0), in_w = maps.size(2);
  const int64_t out_h = row_index.size(0), out_w = col_index.size(0);
  const int64_t row_taps = row_index.size(1), col_taps = col_index.size(1);
  at::Tensor out = at::empty({out_h, out_w}, maps.options().dtype(at::kLong));
  const float* in = src.data_ptr<float>();
  const int64_t* iy = row_index.data_ptr<int64_t>();
  const float* ry = row_weight.data_ptr<float>();
  const int64_t* ix = col_index.data_ptr<int64_t>();
  const float* rx = col_weight.data_ptr<float>();
  int64_t* result = out.data_ptr<int64_t>();
  const std::vector<int64_t> row_runs = tap_runs(iy, out_h, row_taps);
  const std::vector<int64_t> col_runs = tap_runs(ix, out_w, col_taps);
  const int64_t num_row_runs = static_cast<int64_t>(row_runs.size()) - 1;
  const int64_t num_col_runs = static_cast<int64_t>(col_runs.size()) - 1;
  const int64_t corners = row_taps * col_taps;

  at::parallel_for(0, num_row_runs, 1, [&](int64_t begin, int64_t end) {
    std::vector<const float*> corner(corners);
    std::vector<int64_t> candidates(channels);
    for (int64_t rr = begin; rr < end; ++rr) {
      const int64_t y0 = row_runs[rr], y1 = row_runs[rr + 1];
      for (int64_t cr = 0; cr < num_col_runs; ++cr) {
        const int64_t x0 = col_runs[cr], x1 = col_runs[cr + 1];
        for (int64_t t = 0; t < row_taps; ++t) {
          for (int64_t u = 0; u < col_taps; ++u) {
            corner[t * col_taps + u] =
                in + (iy[y0 * row_taps + t] * in_w + ix[x0 * col_taps + u]) *
                         channels;
          }
        }
        // an output value lies between its corners' min and max
        float lower = -std::numeric_limits<float>::infinity();
        for (int64_t c = 0; c < channels; ++c) {
          float low = corner[0][c];
          for (int64_t q = 1; q < corners; ++q) low = std::min(low, corner[q][c]);
          lower = std::max(lower, low);
        }
        int64_t num_candidates = 0;
        for (int64_t c = 0; c < channels; ++c) {
          float high = corner[0][c];
          for (int64_t q = 1; q < corners; ++q) high = std::max(high, corner[q][c]);
          if (high >= lower) candidates[num_candidates++] = c;
        }
        for (int64_t y = y0; y < y1; ++y) {
          const float* wy = ry + y * row_taps;
          for (int64_t x = x0; x < x1; ++x) {
            const float* wx = rx + x * col_taps;
            int64_t best = candidates[0];
            if (num_candidates > 1) {
              float best_value = -std::numeric_limits<float>::infinity();
              for (int64_t k = 0; k < num_candidates; ++k) {
                const int64_t c = candidates[k];
                float value = 0;
                for (int64_t t = 0; t < row_taps; ++t) {
                  float row_value = 0;
                  for (int64_t u = 0; u < col_taps; ++u) {
                    row_value += wx[u] * corner[t * col_taps + u][c];
                  }
                  value += wy[t] * row_value;
                }
                if (value > best_value) {
                  best_value = value;
                  best = c;
                }
              }
            }
            result[y * out_w + x] = best;
          }
        }
      }
    }
  });
  return out;
}

// maps (M, h, w) float32 -> (M, H, W) bool: resampled maps > threshold.
// Per block of output pixels sharing their row and column taps, a block
// whose corner values are all above (all at or below) the threshold is
// filled without evaluating its pixels.
at::Tensor resample_threshold(const at::Tensor& maps,
                              const at::Tensor& row_index,
                              const at::Tensor& row_weight,
                              const at::Tensor& col_index,
                              const at::Tensor& col_weight, double threshold) {
  TORCH_CHECK(maps.device().is_cpu(), "resample_threshold: CPU tensors only");
  TORCH_CHECK(maps.dim() == 3 && maps.scalar_type() == at::kFloat,
              "resample_threshold: maps must be (M, h, w) float32");
  check_taps(row_index, row_weight, "rows");
  check_taps(col_index, col_weight, "columns");
  const at::Tensor src = maps.contiguous();
  const int64_t num = src.size(0), in_h = src.size(1), in_w = src.size(2);
  const int64_t out_h = row_index.size(0), out_w = col_index.size(0);
  const int64_t row_taps = row_index.size(1), col_taps = col_index.size(1);
  at::Tensor out =
      at::empty({num, out_h, out_w}, maps.options().dtype(at::kBool));
  const float* in = src.data_ptr<float>();
  const int64_t* iy = row_index.data_ptr<int64_t>();
  const float* ry = row_weight.data_ptr<float>();
  const int64_t* ix = col_index.data_ptr<int64_t>();
  const float* rx = col_weight.data_ptr<float>();
  bool* result = out.data_ptr<bool>();
  const float thr = static_cast<float>(threshold);
  const std::vector<int64_t> row_runs = tap_runs(iy, out_h, row_taps);
  const std::vector<int64_t> col_runs = tap_runs(ix, out_w, col_taps);
  const int64_t num_row_runs = static_cast<int64_t>(row_runs.size()) - 1;
  const int64_t num_col_runs = static_cast<int64_t>(col_runs.size()) - 1;
  const int64_t corners = row_taps * col_taps;

  at::parallel_for(0, num * num_row_runs, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> corner(corners);
    for (int64_t job = begin; job < end; ++job) {
      const int64_t m = job / num_row_runs, rr = job % num_row_runs;
      const float* plane = in + m * in_h * in_w;
      bool* mask = result + m * out_h * out_w;
      const int64_t y0 = row_runs[rr], y1 = row_runs[rr + 1];
      // decided blocks next to each other with the same value are filled
      // together: [fill_x0, fill_x1) with fill_value
      int64_t fill_x0 = 0, fill_x1 = 0;
      bool fill_value = false;
      auto flush = [&]() {
        if (fill_x1 > fill_x0) {
          for (int64_t y = y0; y < y1; ++y) {
            std::fill(mask + y * out_w + fill_x0, mask + y * out_w + fill_x1,
                      fill_value);
          }
        }
        fill_x0 = fill_x1 = 0;
      };
      for (int64_t cr = 0; cr < num_col_runs; ++cr) {
        const int64_t x0 = col_runs[cr], x1 = col_runs[cr + 1];
        float low = std::numeric_limits<float>::infinity();
        float high = -std::numeric_limits<float>::infinity();
        for (int64_t t = 0; t < row_taps; ++t) {
          for (int64_t u = 0; u < col_taps; ++u) {
            const float value =
                plane[iy[y0 * row_taps + t] * in_w + ix[x0 * col_taps + u]];
            corner[t * col_taps + u] = value;
            low = std::min(low, value);
            high = std::max(high, value);
          }
        }
        if (low > thr || high <= thr) {  // decided by the corners
          const bool inside = low > thr;
          if (fill_x1 == x0 && fill_x1 > fill_x0 && fill_value == inside) {
            fill_x1 = x1;
          } else {
            flush();
            fill_x0 = x0;
            fill_x1 = x1;
            fill_value = inside;
          }
          continue;
        }
        flush();
        for (int64_t y = y0; y < y1; ++y) {
          const float* wy = ry + y * row_taps;
          for (int64_t x = x0; x < x1; ++x) {
            const float* wx = rx + x * col_taps;
            float value = 0;
            for (int64_t t = 0; t < row_taps; ++t) {
              float row_value = 0;
              for (int64_t u = 0; u < col_taps; ++u) {
                row_value += wx[u] * corner[t * col_taps + u];
              }
              value += wy[t] * row_value;
            }
            mask[y * out_w + x] = value > thr;
          }
        }
      }
      flush();
    }
  });
  return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("resample_argmax", &resample_argmax,
        "channel argmax of bilinearly resampled maps (CPU)");
  m.def("resample_threshold", &resample_threshold,
        "bilinearly resampled maps > threshold (CPU)");
}
