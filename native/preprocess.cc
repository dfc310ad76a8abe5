#include "preprocess.h"

namespace mg {

void RenderCpu(const SourceView& source, const RenderSpec& spec, float* out) {
  for (int y = 0; y < spec.out_h; ++y) {
    for (int x = 0; x < spec.out_w; ++x) render_pixel(source, spec, x, y, out);
  }
}

}  // namespace mg
