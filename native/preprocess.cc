#include "preprocess.h"

namespace mg {

void PreprocessCpu(const SourceView& source, ResizeMode mode, int out_w, int out_h, float* planar_out) {
  for (int y = 0; y < out_h; ++y) {
    for (int x = 0; x < out_w; ++x) {
      resize_pixel_to_planar(source, mode, x, y, out_w, out_h, planar_out);
    }
  }
}

}  // namespace mg
