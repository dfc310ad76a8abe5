// One compressed video stream (VP8 frames or H.264 Annex-B access units, as the RTP depacketizer assembles them)
// decoded with libavcodec into tightly packed I420. Not thread-safe: one owner thread calls it, frames in order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "frame_decode.h"  // FrameError

struct AVCodecContext;
struct AVFrame;
struct AVPacket;

namespace mg {

enum class VideoCodec { VP8, H264 };

// "VP8" / "H264" (case-insensitive; "h.264" too). Throws FrameError ERR_INVALID_ARG otherwise.
VideoCodec ParseVideoCodec(const std::string& name);
const char* VideoCodecName(VideoCodec codec);

// Whether an access unit starts a decodable picture on its own: a VP8 key frame (frame tag P bit 0 and the
// start code 9d 01 2a), or an H.264 access unit holding an IDR slice (NAL type 5).
bool IsVideoKeyframe(VideoCodec codec, const uint8_t* data, size_t size);

struct DecodedVideo {
  bool decoded = false;   // false: the access unit produced no picture (e.g. only parameter sets)
  int width = 0, height = 0;
  bool keyframe = false;
  std::vector<uint8_t> i420;  // Y, U, V planes packed (strides width and (width+1)/2), when asked for
  double decode_ms = 0;
};

struct VideoDecoderStats {
  uint64_t decoded = 0;  // access units that produced a picture
  uint64_t empty = 0;    // access units that produced none
  uint64_t failed = 0;   // ERR_VIDEO_DECODE
  uint64_t skipped = 0;  // ERR_VIDEO_NEED_KEYFRAME
  uint64_t resets = 0;
};

// Shared with the file reader (video_file.h), which decodes with the same checks.
// Routes libavcodec/libavformat logs to a per-thread "last error" that WithAvDetail appends to a message.
void InstallAvLogCallback();
void ClearAvDetail();
std::string WithAvDetail(const std::string& message, const char* library = "libavcodec");
std::string AvErrorText(int code);
// Checks a decoded picture (not corrupt, 8-bit 4:2:0, within the side limit and `max_pixels`); returns why not, or "".
std::string CheckDecodedPicture(const AVFrame* frame, int64_t max_pixels);
// Copies a checked picture into tightly packed I420 (strides width and (width+1)/2).
void CopyPictureI420(const AVFrame* frame, std::vector<uint8_t>* out);

class VideoDecoder {
 public:
  // Throws FrameError ERR_INVALID_ARG when libavcodec has no decoder for the codec.
  // Pictures over `max_pixels` are refused (ERR_VIDEO_DECODE) before libavcodec allocates them.
  VideoDecoder(VideoCodec codec, int64_t max_pixels);
  ~VideoDecoder();
  VideoDecoder(const VideoDecoder&) = delete;
  VideoDecoder& operator=(const VideoDecoder&) = delete;

  // Decodes one access unit. Throws FrameError:
  //   ERR_VIDEO_DECODE: libavcodec refused it or returned a corrupt picture; the decoder has been reset and
  //                     waits for a key frame;
  //   ERR_VIDEO_NEED_KEYFRAME: not a key frame while the decoder waits for one (at the start or after a reset);
  //   ERR_INVALID_INPUT: empty, or larger than the frame limits.
  DecodedVideo Decode(const uint8_t* data, size_t size, bool want_pixels);

  // Drops every reference picture: the next access unit must be a key frame.
  void Reset();

  VideoCodec codec() const { return codec_; }
  const VideoDecoderStats& stats() const { return stats_; }

 private:
  void Open();
  void Close();
  [[noreturn]] void FailAndReset(const std::string& message);

  VideoCodec codec_;
  int64_t max_pixels_;
  AVCodecContext* context_ = nullptr;
  AVFrame* frame_ = nullptr;
  AVPacket* packet_ = nullptr;
  bool need_keyframe_ = true;
  VideoDecoderStats stats_;
};

}  // namespace mg
