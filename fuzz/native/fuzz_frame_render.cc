// libFuzzer target: one frame as the addon receives it (kind, size, strides, bytes) through DecodeFrame, then
// rendered as the scorer would: a whole-frame resize, the detector letterbox and a face crop from fuzzed keypoints;
// a JPEG's crop again from the rows a tracked frame decodes (DecodeFrameRows), which must give the same floats.
// Preconditions are the callers' (src/scoring/scorerOptions.ts, native/js_convert.cc): keypoints finite and within
// kMaxKeypointMagnitude, crop factor and margin in (0, 100]; inputs outside them are skipped, not fed.
#include <cmath>
#include <cstdint>
#include <array>
#include <cstring>
#include <vector>

#include "face_geometry.h"
#include "frame_decode.h"
#include "preprocess.h"

namespace {

// Reads fuzz bytes front to back; zeros once they run out.
struct Reader {
  const uint8_t* data;
  size_t size;
  template <typename T>
  T Take() {
    T value{};
    const size_t n = size < sizeof(T) ? size : sizeof(T);
    std::memcpy(&value, data, n);
    data += n;
    size -= n;
    return value;
  }
};

constexpr size_t kHeaderBytes = 1 + 2 + 2 + 3 * 2 + 1 + 12 * 4 + 2 * 1;
constexpr int kOut = 32;  // small output sides keep an iteration fast; geometry, not size, is under test

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kHeaderBytes) return 0;
  Reader r{data, size};
  mg::FrameInput in;
  in.kind = static_cast<mg::FrameKind>(r.Take<uint8_t>() % 6);
  in.width = r.Take<uint16_t>() % 1025;
  in.height = r.Take<uint16_t>() % 1025;
  in.stride0 = r.Take<uint16_t>() % 4097;
  in.stride1 = r.Take<uint16_t>() % 4097;
  in.stride2 = r.Take<uint16_t>() % 4097;
  const uint8_t mode_byte = r.Take<uint8_t>();
  std::array<float, 2 * mg::kKeypoints> keypoints{};
  for (float& k : keypoints) k = r.Take<float>();
  const float factor = 0.1f + (float)r.Take<uint8_t>() / 8.f;
  const float margin = 0.1f + (float)r.Take<uint8_t>() / 8.f;
  in.max_pixels = 4 * 1024 * 1024;
  in.bytes.assign(r.data, r.data + r.size);

  mg::DecodedFrame frame;
  try {
    frame = mg::DecodeFrame(in);
  } catch (const mg::FrameError&) {
    return 0;  // refused with a frame error: the contract
  }
  const mg::ResizeMode mode = static_cast<mg::ResizeMode>(mode_byte % 3);
  const mg::Layout layout = static_cast<mg::Layout>((mode_byte >> 2) & 1);
  std::vector<float> out(kOut * kOut * 3);

  mg::RenderSpec whole{kOut, kOut, mode, true, {}, layout, 1.f, 0.f, 0.f};
  mg::RenderCpu(frame.view, whole, out.data());

  const mg::Box region{0, 0, (float)frame.view.width, (float)frame.view.height};
  const mg::RenderSpec letterbox = mg::MakeLetterbox(region, kOut, mode, layout, 2.f, -1.f).spec;
  mg::RenderCpu(frame.view, letterbox, out.data());
  mg::RenderDetectorCpu(frame.view, letterbox, out.data());

  for (float k : keypoints) {
    if (!std::isfinite(k) || std::fabs(k) > mg::kMaxKeypointMagnitude) return 0;
  }
  const mg::RenderSpec crop = mg::MakeFaceCrop(keypoints, {factor, margin, mode}, kOut).spec;
  mg::RenderCpu(frame.view, crop, out.data());

  // A tracked frame's decode (DecodeFrameRows): only the rows the crop reads, which must render the same crop
  // bit for bit. The whole frame decoded, so its first rows decode too.
  mg::RowRange rows;
  if (in.kind == mg::FrameKind::Jpeg && mg::SourceRowsRead(crop, mg::kMaxFrameSide, &rows.begin, &rows.end) && rows.end > rows.begin) {
    bool partial = false;
    const mg::DecodedFrame part = mg::DecodeFrameRows(in, rows, &partial);  // a FrameError here is a finding
    std::vector<float> again(out.size());
    mg::RenderCpu(part.view, crop, again.data());
    if (std::memcmp(out.data(), again.data(), out.size() * sizeof(float)) != 0) __builtin_trap();
  }
  return 0;
}
