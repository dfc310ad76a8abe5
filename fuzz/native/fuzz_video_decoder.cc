// libFuzzer target: a VP8 or H.264 stream as the RTP ingest hands it to libavcodec, whole access units in order.
// Input: one byte (bit 0: 0 VP8, 1 H.264), then access units, each a little-endian uint32 length and its bytes
// (the last one takes what is left). The seeds are real encodes (fuzz/corpus.ts), so mutations land inside
// complete, mostly well-formed access units and reach libavcodec's slice and macroblock decoding.
#include <cstdint>
#include <cstring>

#include "video_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const mg::VideoCodec codec = (data[0] & 1) ? mg::VideoCodec::H264 : mg::VideoCodec::VP8;
  mg::VideoDecoder decoder(codec, 1024 * 1024);  // pictures over a megapixel are refused before allocation
  size_t at = 1;
  while (at < size) {
    uint32_t length = 0;
    const size_t header = size - at < 4 ? size - at : 4;
    std::memcpy(&length, data + at, header);
    at += header;
    const size_t take = length < size - at ? length : size - at;
    if (take == 0) continue;
    try {
      decoder.Decode(data + at, take, (data[0] & 2) != 0);
    } catch (const mg::FrameError&) {
      // refused or reset: the contract; the next access unit goes on with the same decoder
    }
    at += take;
  }
  return 0;
}
