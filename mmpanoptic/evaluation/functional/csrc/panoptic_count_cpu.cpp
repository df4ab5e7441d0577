// Panoptic quality counting kernels. joint_histogram: one pass over two
// panoptic label maps, the pixel count of every pair of values (the joint
// histogram that panoptic quality is computed from), for maps given as
// integer arrays or as the inflated image data of 8-bit RGB(A) PNGs (COCO
// panoptic PNGs: value = R + 256 G + 256^2 B). PNG rows are unfiltered into
// a one-row buffer and counted at once, so no decoded image is written.
// match_image: panopticapi's matching of one image from those counts. The
// reference is panopticapi's pq_compute_single_core and the numpy path of
// mmpanoptic/evaluation/functional/panoptic_quality.py.
//
// Values are collected in order of appearance in open-addressing tables and
// counted per run of equal (a, b) pairs along the rows; the result is
// returned sorted by value.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

namespace py = pybind11;

namespace {

// Distinct uint64 values -> dense indices 0, 1, ... in order of appearance.
class ValueIndex {
 public:
  ValueIndex() { rehash(64); }

  int64_t find_or_insert(uint64_t value) {
    size_t slot = hash(value) & mask_;
    while (true) {
      const int64_t index = slots_[slot];
      if (index < 0) break;
      if (values_[index] == value) return index;
      slot = (slot + 1) & mask_;
    }
    const int64_t index = static_cast<int64_t>(values_.size());
    values_.push_back(value);
    slots_[slot] = index;
    if (2 * values_.size() > slots_.size()) rehash(2 * slots_.size());
    return index;
  }

  const std::vector<uint64_t>& values() const { return values_; }

 private:
  static size_t hash(uint64_t value) {
    value ^= value >> 33;
    value *= 0xff51afd7ed558ccdULL;
    value ^= value >> 33;
    return static_cast<size_t>(value);
  }

  void rehash(size_t size) {
    slots_.assign(size, -1);
    mask_ = size - 1;
    for (size_t index = 0; index < values_.size(); ++index) {
      size_t slot = hash(values_[index]) & mask_;
      while (slots_[slot] >= 0) slot = (slot + 1) & mask_;
      slots_[slot] = static_cast<int64_t>(index);
    }
  }

  std::vector<int64_t> slots_;
  std::vector<uint64_t> values_;
  size_t mask_ = 0;
};

// Pixel counts of (a, b) value pairs, fed run by run.
class PairCounter {
 public:
  template <typename TA, typename TB>
  void add_row(const TA* a, const TB* b, int64_t width) {
    if (width <= 0) return;
    if (static_cast<int64_t>(changes_.size()) < width) changes_.resize(width);
    int32_t* changes = changes_.data();
    // positions where the (a, b) pair differs from the pixel before it
    // (branch-free); the first pixel is compared with the open run
    int64_t n = 0;
    changes[n] = 0;
    n += (static_cast<uint64_t>(a[0]) != run_a_) |
         (static_cast<uint64_t>(b[0]) != run_b_);
    constexpr int64_t kBlock = 16;
    int64_t x = 1;
    for (; x + kBlock <= width; x += kBlock) {
      // most blocks lie inside one run: test them first (vectorises)
      uint64_t differ = 0;
      for (int64_t k = 0; k < kBlock; ++k) {
        differ |= static_cast<uint64_t>(a[x + k] ^ a[x + k - 1]) |
                  static_cast<uint64_t>(b[x + k] ^ b[x + k - 1]);
      }
      if (!differ) continue;
      for (int64_t k = x; k < x + kBlock; ++k) {
        changes[n] = static_cast<int32_t>(k);
        n += (a[k] != a[k - 1]) | (b[k] != b[k - 1]);
      }
    }
    for (; x < width; ++x) {
      changes[n] = static_cast<int32_t>(x);
      n += (a[x] != a[x - 1]) | (b[x] != b[x - 1]);
    }
    int64_t start = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t x = changes[i];
      run_ += x - start;
      if (run_) add(run_a_, run_b_, run_);
      run_a_ = static_cast<uint64_t>(a[x]);
      run_b_ = static_cast<uint64_t>(b[x]);
      run_ = 0;
      start = x;
    }
    run_ += width - start;
  }

  // (a values, b values, counts (Na, Nb)), values increasing.
  py::tuple result() {
    if (run_) add(run_a_, run_b_, run_);
    run_ = 0;
    std::vector<int64_t> order_a = sorted_order(a_index_.values());
    std::vector<int64_t> order_b = sorted_order(b_index_.values());
    const int64_t na = static_cast<int64_t>(order_a.size());
    const int64_t nb = static_cast<int64_t>(order_b.size());
    py::array_t<int64_t> a_values(na), b_values(nb);
    py::array_t<int64_t> counts({na, nb});
    int64_t* pa = a_values.mutable_data();
    int64_t* pb = b_values.mutable_data();
    int64_t* pc = counts.mutable_data();
    for (int64_t i = 0; i < na; ++i) {
      pa[i] = static_cast<int64_t>(a_index_.values()[order_a[i]]);
    }
    for (int64_t j = 0; j < nb; ++j) {
      pb[j] = static_cast<int64_t>(b_index_.values()[order_b[j]]);
    }
    for (int64_t i = 0; i < na; ++i) {
      const int64_t* row = counts_.data() + order_a[i] * capacity_b_;
      for (int64_t j = 0; j < nb; ++j) pc[i * nb + j] = row[order_b[j]];
    }
    return py::make_tuple(a_values, b_values, counts);
  }

 private:
  void add(uint64_t va, uint64_t vb, int64_t run) {
    if (!cached_ || va != cached_a_) {
      index_a_ = a_index_.find_or_insert(va);
      cached_a_ = va;
    }
    if (!cached_ || vb != cached_b_) {
      index_b_ = b_index_.find_or_insert(vb);
      cached_b_ = vb;
    }
    cached_ = true;
    if (index_a_ >= capacity_a_ || index_b_ >= capacity_b_) grow();
    counts_[index_a_ * capacity_b_ + index_b_] += run;
  }

  void grow() {
    const int64_t capacity_a = std::max<int64_t>(capacity_a_, 16) *
                               (index_a_ >= capacity_a_ ? 2 : 1);
    const int64_t capacity_b = std::max<int64_t>(capacity_b_, 16) *
                               (index_b_ >= capacity_b_ ? 2 : 1);
    // panoptic maps have at most thousands of segments per image; tens of
    // thousands on both sides are not label maps (e.g. a photograph)
    if (capacity_a * capacity_b > (int64_t{1} << 24)) {
      throw std::invalid_argument(
          "label maps with more than " + std::to_string(index_a_) +
          " and " + std::to_string(index_b_) +
          " distinct values: too many pairs to count (are these panoptic "
          "label maps?)");
    }
    std::vector<int64_t> counts(capacity_a * capacity_b, 0);
    for (int64_t i = 0; i < capacity_a_; ++i) {
      std::copy(counts_.begin() + i * capacity_b_,
                counts_.begin() + (i + 1) * capacity_b_,
                counts.begin() + i * capacity_b);
    }
    counts_.swap(counts);
    capacity_a_ = capacity_a;
    capacity_b_ = capacity_b;
  }

  static std::vector<int64_t> sorted_order(
      const std::vector<uint64_t>& values) {
    std::vector<int64_t> order(values.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](int64_t i, int64_t j) { return values[i] < values[j]; });
    return order;
  }

  ValueIndex a_index_, b_index_;
  std::vector<int32_t> changes_;
  std::vector<int64_t> counts_;
  int64_t capacity_a_ = 0, capacity_b_ = 0;
  uint64_t run_a_ = 0, run_b_ = 0;
  int64_t run_ = 0;
  bool cached_ = false;
  uint64_t cached_a_ = 0, cached_b_ = 0;
  int64_t index_a_ = 0, index_b_ = 0;
};

// Byte-wise a + b (mod 256 per byte) of four packed bytes.
inline uint32_t add_bytes(uint32_t a, uint32_t b) {
  return ((a & 0x7f7f7f7fu) + (b & 0x7f7f7f7fu)) ^ ((a ^ b) & 0x80808080u);
}

// Byte-wise floor((a + b) / 2) of four packed bytes.
inline uint32_t average_bytes(uint32_t a, uint32_t b) {
  return (a & b) + (((a ^ b) & 0xfefefefeu) >> 1);
}

inline uint32_t paeth_byte(int a, int b, int c) {
  const int pa = std::abs(b - c);
  const int pb = std::abs(a - c);
  const int pc = std::abs(a + b - 2 * c);
  if (pa <= pb && pa <= pc) return static_cast<uint32_t>(a);
  return static_cast<uint32_t>(pb <= pc ? b : c);
}

// The PNG Paeth predictor byte by byte; when left == upper-left it is the
// upper byte everywhere, when up == upper-left the left one (the common
// case inside a segment).
inline uint32_t paeth_bytes(uint32_t a, uint32_t b, uint32_t c) {
  if (a == c) return b;
  if (b == c) return a;
  uint32_t out = 0;
  for (int shift = 0; shift < 32; shift += 8) {
    out |= paeth_byte((a >> shift) & 0xff, (b >> shift) & 0xff,
                      (c >> shift) & 0xff)
           << shift;
  }
  return out;
}

// Rows of an 8-bit RGB (3 channels) or RGBA (4) PNG, unfiltered one by one
// into packed pixels (R | G << 8 | B << 16 [| A << 24]); ``ids`` are the
// pixels without alpha.
class PngRows {
 public:
  PngRows(py::buffer data, int64_t height, int64_t width, int64_t channels)
      : info_(data.request()),
        height_(height),
        width_(width),
        channels_(channels),
        previous_(width, 0),
        current_(width, 0) {
    if (channels != 3 && channels != 4) {
      throw std::invalid_argument("PNG rows: channels must be 3 or 4");
    }
    if (height < 0 || width < 0) {
      throw std::invalid_argument("PNG rows: negative size");
    }
    const int64_t expected = height * (1 + width * channels);
    if (info_.itemsize != 1 || info_.size != expected) {
      throw std::invalid_argument(
          "PNG rows: the image data has " + std::to_string(info_.size) +
          " bytes, " + std::to_string(expected) + " expected for " +
          std::to_string(width) + "x" + std::to_string(height) + "x" +
          std::to_string(channels));
    }
    if (channels == 4) alpha_free_.resize(width);
  }

  int64_t height() const { return height_; }
  int64_t width() const { return width_; }

  // Unfilters row ``y`` (rows must be read in order); its ids.
  const uint32_t* row(int64_t y) {
    const uint8_t* line = static_cast<const uint8_t*>(info_.ptr) +
                          y * (1 + width_ * channels_);
    if (channels_ == 3) {
      unfilter<3>(line[0], line + 1);
    } else {
      unfilter<4>(line[0], line + 1);
    }
    if (channels_ == 3) return current_.data();
    for (int64_t x = 0; x < width_; ++x) {
      alpha_free_[x] = current_[x] & 0xffffffu;
    }
    return alpha_free_.data();
  }

 private:
  template <int C>
  static inline uint32_t load(const uint8_t* p) {
    uint32_t v = static_cast<uint32_t>(p[0]) |
                 (static_cast<uint32_t>(p[1]) << 8) |
                 (static_cast<uint32_t>(p[2]) << 16);
    if (C == 4) v |= static_cast<uint32_t>(p[3]) << 24;
    return v;
  }

  // Whether the filtered bytes of kBlock pixels are all 0 (the pixels then
  // repeat their predictor: the usual case inside a segment).
  template <int C>
  static inline bool zero_block(const uint8_t* p) {
    uint64_t any = 0;
    for (int k = 0; k < kBlock * C / 8; ++k) {
      uint64_t word;
      std::memcpy(&word, p + 8 * k, 8);
      any |= word;
    }
    return any == 0;
  }

  template <int C>
  void unfilter(uint8_t filter, const uint8_t* raw) {
    previous_.swap(current_);
    uint32_t* cur = current_.data();
    const uint32_t* up = previous_.data();
    const int64_t w = width_;
    switch (filter) {
      case 0:  // None
        for (int64_t x = 0; x < w; ++x) cur[x] = load<C>(raw + x * C);
        break;
      case 1: {  // Sub
        uint32_t left = 0;
        int64_t x = 0;
        for (; x + kBlock <= w; x += kBlock) {
          if (zero_block<C>(raw + x * C)) {
            std::fill(cur + x, cur + x + kBlock, left);
            continue;
          }
          for (int64_t k = x; k < x + kBlock; ++k) {
            left = add_bytes(load<C>(raw + k * C), left);
            cur[k] = left;
          }
        }
        for (; x < w; ++x) {
          left = add_bytes(load<C>(raw + x * C), left);
          cur[x] = left;
        }
        break;
      }
      case 2: {  // Up
        int64_t x = 0;
        for (; x + kBlock <= w; x += kBlock) {
          if (zero_block<C>(raw + x * C)) {
            std::copy(up + x, up + x + kBlock, cur + x);
            continue;
          }
          for (int64_t k = x; k < x + kBlock; ++k) {
            cur[k] = add_bytes(load<C>(raw + k * C), up[k]);
          }
        }
        for (; x < w; ++x) cur[x] = add_bytes(load<C>(raw + x * C), up[x]);
        break;
      }
      case 3: {  // Average
        uint32_t left = 0;
        for (int64_t x = 0; x < w; ++x) {
          left = add_bytes(load<C>(raw + x * C), average_bytes(left, up[x]));
          cur[x] = left;
        }
        break;
      }
      case 4: {  // Paeth
        uint32_t left = 0, upper_left = 0;
        for (int64_t x = 0; x < w; ++x) {
          left = add_bytes(load<C>(raw + x * C),
                           paeth_bytes(left, up[x], upper_left));
          upper_left = up[x];
          cur[x] = left;
        }
        break;
      }
      default:
        throw std::invalid_argument("PNG rows: unknown filter type " +
                                    std::to_string(filter));
    }
  }

  static constexpr int64_t kBlock = 16;
  py::buffer_info info_;
  int64_t height_, width_, channels_;
  std::vector<uint32_t> previous_, current_, alpha_free_;
};

// A (H, W) C-contiguous integer array read row by row.
template <typename T>
class ArrayRows {
 public:
  explicit ArrayRows(const py::array& array)
      : data_(static_cast<const T*>(array.data())),
        height_(array.shape(0)),
        width_(array.shape(1)) {}

  int64_t height() const { return height_; }
  int64_t width() const { return width_; }

  const T* row(int64_t y) {
    const T* values = data_ + y * width_;
    if (std::is_signed<T>::value) {
      // the sign bit of the OR of all values (vectorises without compares)
      T any_bits = 0;
      for (int64_t x = 0; x < width_; ++x) any_bits |= values[x];
      if (any_bits < 0) {
        const T smallest = *std::min_element(values, values + width_);
        throw std::invalid_argument(
            "label map has a negative value (" +
            std::to_string(static_cast<int64_t>(smallest)) + ") in row " +
            std::to_string(y));
      }
    }
    return values;
  }

 private:
  const T* data_;
  int64_t height_, width_;
};

template <typename RowsA, typename RowsB>
py::tuple count_pairs(RowsA& a, RowsB& b) {
  if (a.height() != b.height() || a.width() != b.width()) {
    throw std::invalid_argument(
        "label maps differ in size: " + std::to_string(a.width()) + "x" +
        std::to_string(a.height()) + " and " + std::to_string(b.width()) +
        "x" + std::to_string(b.height()));
  }
  PairCounter counter;
  {
    py::gil_scoped_release release;
    for (int64_t y = 0; y < a.height(); ++y) {
      counter.add_row(a.row(y), b.row(y), a.width());
    }
  }
  return counter.result();
}

bool is_png(const py::object& source) {
  return py::isinstance<py::tuple>(source);
}

PngRows png_rows(const py::object& source) {
  py::tuple png = source.cast<py::tuple>();
  if (png.size() != 4) {
    throw std::invalid_argument(
        "a PNG source is (data, height, width, channels)");
  }
  return PngRows(png[0].cast<py::buffer>(), png[1].cast<int64_t>(),
                 png[2].cast<int64_t>(), png[3].cast<int64_t>());
}

py::array checked_array(const py::object& source) {
  py::array array = py::array::ensure(source);
  if (!array || array.ndim() != 2) {
    throw std::invalid_argument("a label map must be a 2-D integer array");
  }
  if (!(array.flags() & py::array::c_style)) {
    throw std::invalid_argument("a label map must be C-contiguous");
  }
  const char kind = array.dtype().kind();
  if (kind != 'i' && kind != 'u') {
    throw std::invalid_argument("a label map must hold integers");
  }
  return array;
}

template <typename RowsA>
py::tuple with_second(RowsA& a, const py::object& second) {
  if (is_png(second)) {
    PngRows b = png_rows(second);
    return count_pairs(a, b);
  }
  py::array array = checked_array(second);
  const char kind = array.dtype().kind();
  switch (array.itemsize()) {
#define MMPANOPTIC_ARRAY_CASE(SIZE, SIGNED, UNSIGNED)      \
  case SIZE:                                               \
    if (kind == 'i') {                                     \
      ArrayRows<SIGNED> b(array);                          \
      return count_pairs(a, b);                            \
    } else {                                               \
      ArrayRows<UNSIGNED> b(array);                        \
      return count_pairs(a, b);                            \
    }
    MMPANOPTIC_ARRAY_CASE(1, int8_t, uint8_t)
    MMPANOPTIC_ARRAY_CASE(2, int16_t, uint16_t)
    MMPANOPTIC_ARRAY_CASE(4, int32_t, uint32_t)
    MMPANOPTIC_ARRAY_CASE(8, int64_t, uint64_t)
#undef MMPANOPTIC_ARRAY_CASE
    default:
      throw std::invalid_argument("unsupported integer size");
  }
}

}  // namespace

// Joint histogram of two label maps. Each map is either a (H, W) integer
// array (non-negative values) or a PNG source (data, height, width,
// channels): the inflated IDAT bytes of a non-interlaced 8-bit RGB (3) or
// RGBA (4) PNG, whose values are R + 256 G + 256^2 B. Returns (a values,
// b values, counts): the distinct values of each map, increasing (int64),
// and the (Na, Nb) int64 pixel counts of every pair.
py::tuple joint_histogram(const py::object& first, const py::object& second) {
  if (is_png(first)) {
    PngRows a = png_rows(first);
    return with_second(a, second);
  }
  py::array array = checked_array(first);
  const char kind = array.dtype().kind();
  switch (array.itemsize()) {
#define MMPANOPTIC_ARRAY_CASE(SIZE, SIGNED, UNSIGNED) \
  case SIZE:                                          \
    if (kind == 'i') {                                \
      ArrayRows<SIGNED> a(array);                     \
      return with_second(a, second);                  \
    } else {                                          \
      ArrayRows<UNSIGNED> a(array);                   \
      return with_second(a, second);                  \
    }
    MMPANOPTIC_ARRAY_CASE(1, int8_t, uint8_t)
    MMPANOPTIC_ARRAY_CASE(2, int16_t, uint16_t)
    MMPANOPTIC_ARRAY_CASE(4, int32_t, uint32_t)
    MMPANOPTIC_ARRAY_CASE(8, int64_t, uint64_t)
#undef MMPANOPTIC_ARRAY_CASE
    default:
      throw std::invalid_argument("unsupported integer size");
  }
}

// The (H, W) uint32 values R + 256 G + 256^2 B of a PNG source.
py::array_t<uint32_t> png_values(const py::object& source) {
  PngRows rows = png_rows(source);
  py::array_t<uint32_t> values({rows.height(), rows.width()});
  uint32_t* out = values.mutable_data();
  {
    py::gil_scoped_release release;
    for (int64_t y = 0; y < rows.height(); ++y) {
      std::memcpy(out + y * rows.width(), rows.row(y),
                  sizeof(uint32_t) * rows.width());
    }
  }
  return values;
}

// panopticapi's matching of one image (pq_compute_single_core), from the
// pair counts of joint_histogram: GT ids (A,) increasing, counts (A, P);
// the K GT segments of segments_info in order (ids, labels, JSON areas or
// an empty array to count the PNG, crowd flags); the label and VOID flag
// of each predicted column. A pair matches with the same label, non-crowd
// GT and IoU > 0.5, union = |pred| + |gt| - |pred & gt| - |pred & VOID|;
// an unmatched prediction is no false positive when more than half of it
// lies on VOID plus the last crowd segment of its label. Returns the
// classes with TP + FP + FN > 0 and their TP, FP, FN (int64) and IoU sum
// (float64), and the PNG pixel count of every GT segment (int64 (K,)).
py::tuple match_image(py::array_t<int64_t, py::array::c_style> gt_values,
                      py::array_t<int64_t, py::array::c_style> counts,
                      py::array_t<int64_t, py::array::c_style> segment_ids,
                      py::array_t<int64_t, py::array::c_style> segment_labels,
                      py::array_t<int64_t, py::array::c_style> segment_areas,
                      py::array_t<bool, py::array::c_style> segment_crowd,
                      py::array_t<int64_t, py::array::c_style> pred_labels,
                      py::array_t<bool, py::array::c_style> pred_void,
                      int64_t num_classes) {
  const int64_t num_rows = gt_values.shape(0);
  const int64_t num_segments = segment_ids.shape(0);
  const int64_t num_columns = pred_labels.shape(0);
  if (counts.ndim() != 2 || counts.shape(0) != num_rows ||
      counts.shape(1) != num_columns || pred_void.shape(0) != num_columns ||
      segment_labels.shape(0) != num_segments ||
      segment_crowd.shape(0) != num_segments ||
      (segment_areas.shape(0) != num_segments &&
       segment_areas.shape(0) != 0)) {
    throw std::invalid_argument("match_image: inconsistent array sizes");
  }
  const int64_t* values = gt_values.data();
  const int64_t* joint = counts.data();
  const int64_t* ids = segment_ids.data();
  const int64_t* labels = segment_labels.data();
  const bool* crowd = segment_crowd.data();
  const int64_t* column_labels = pred_labels.data();
  const bool* column_void = pred_void.data();
  for (int64_t k = 0; k < num_segments; ++k) {
    if (labels[k] < 0 || labels[k] >= num_classes) {
      throw std::invalid_argument("match_image: GT label out of range");
    }
  }
  for (int64_t j = 0; j < num_columns; ++j) {
    if (!column_void[j] &&
        (column_labels[j] < 0 || column_labels[j] >= num_classes)) {
      throw std::invalid_argument("match_image: predicted label out of range");
    }
  }

  // row of each segment in the counts (-1: not in the PNG), PNG areas
  std::vector<int64_t> row_of(num_segments, -1);
  py::array_t<int64_t> png_areas(num_segments);
  int64_t* png_area = png_areas.mutable_data();
  for (int64_t k = 0; k < num_segments; ++k) {
    const int64_t* found = std::lower_bound(values, values + num_rows, ids[k]);
    png_area[k] = 0;
    if (found != values + num_rows && *found == ids[k]) {
      row_of[k] = found - values;
      const int64_t* row = joint + row_of[k] * num_columns;
      for (int64_t j = 0; j < num_columns; ++j) png_area[k] += row[j];
    }
  }
  const int64_t* gt_area = segment_areas.shape(0) ? segment_areas.data()
                                                  : png_area;
  std::vector<int64_t> pred_area(num_columns, 0), on_void(num_columns, 0);
  for (int64_t i = 0; i < num_rows; ++i) {
    const int64_t* row = joint + i * num_columns;
    for (int64_t j = 0; j < num_columns; ++j) pred_area[j] += row[j];
  }
  if (num_rows && values[0] == 0) {
    std::copy(joint, joint + num_columns, on_void.begin());
  }

  std::vector<int64_t> tp(num_classes, 0), fp(num_classes, 0),
      fn(num_classes, 0);
  std::vector<double> iou(num_classes, 0.0);
  std::vector<char> gt_matched(num_segments, 0), pred_matched(num_columns, 0);
  for (int64_t k = 0; k < num_segments; ++k) {
    if (crowd[k] || row_of[k] < 0) continue;
    const int64_t* row = joint + row_of[k] * num_columns;
    for (int64_t j = 0; j < num_columns; ++j) {
      const int64_t intersection = row[j];
      if (intersection == 0 || column_void[j] ||
          column_labels[j] != labels[k]) {
        continue;
      }
      const int64_t union_ =
          pred_area[j] + gt_area[k] - intersection - on_void[j];
      const double value = static_cast<double>(intersection) /
                           static_cast<double>(union_);
      if (value > 0.5) {  // strict: matches are unique
        ++tp[labels[k]];
        iou[labels[k]] += value;
        gt_matched[k] = 1;
        pred_matched[j] = 1;
      }
    }
  }
  // false negatives; the last crowd segment of each label
  std::vector<int64_t> crowd_of_label(num_classes, -1);
  for (int64_t k = 0; k < num_segments; ++k) {
    if (gt_matched[k]) continue;
    if (crowd[k]) {
      crowd_of_label[labels[k]] = k;
    } else {
      ++fn[labels[k]];
    }
  }
  // false positives: unmatched, not mostly on VOID + own-label crowd
  for (int64_t j = 0; j < num_columns; ++j) {
    if (pred_matched[j] || column_void[j]) continue;
    int64_t ignored = on_void[j];
    const int64_t k = crowd_of_label[column_labels[j]];
    if (k >= 0 && row_of[k] >= 0) ignored += joint[row_of[k] * num_columns + j];
    if (static_cast<double>(ignored) / static_cast<double>(pred_area[j]) >
        0.5) {
      continue;
    }
    ++fp[column_labels[j]];
  }

  std::vector<int64_t> seen;
  for (int64_t c = 0; c < num_classes; ++c) {
    if (tp[c] + fp[c] + fn[c] > 0) seen.push_back(c);
  }
  const int64_t n = static_cast<int64_t>(seen.size());
  py::array_t<int64_t> out_labels(n), out_tp(n), out_fp(n), out_fn(n);
  py::array_t<double> out_iou(n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = seen[i];
    out_labels.mutable_data()[i] = c;
    out_tp.mutable_data()[i] = tp[c];
    out_fp.mutable_data()[i] = fp[c];
    out_fn.mutable_data()[i] = fn[c];
    out_iou.mutable_data()[i] = iou[c];
  }
  return py::make_tuple(out_labels, out_tp, out_fp, out_fn, out_iou,
                        png_areas);
}

PYBIND11_MODULE(_panoptic_count_ext, m) {
  m.def("joint_histogram", &joint_histogram,
        "pixel counts of every value pair of two label maps (arrays or "
        "inflated RGB(A) PNG data)");
  m.def("match_image", &match_image,
        "panopticapi's TP/FP/FN/IoU of one image from its pair counts");
  m.def("png_values", &png_values,
        "R + 256 G + 256^2 B of inflated RGB(A) PNG data");
}
