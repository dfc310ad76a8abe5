#include "video_decoder.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>
}

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdarg>
#include <cstring>
#include <mutex>

namespace mg {

namespace {

// Largest access unit accepted: far above any real frame (a 4K intra frame is a few MB).
constexpr size_t kMaxAccessUnitBytes = 32u * 1024 * 1024;

// libavcodec reports details (which slice, which reference is missing) through av_log. They go nowhere
// (the server has its own logs), except that the last error on this thread becomes part of the error message.
thread_local std::string t_last_log;
thread_local int t_print_prefix = 1;

void LogCallback(void* avcl, int level, const char* fmt, va_list args) {
  if (level > AV_LOG_ERROR) return;
  char line[512];
  av_log_format_line2(avcl, level, fmt, args, line, sizeof(line), &t_print_prefix);
  std::string text(line);
  while (!text.empty() && std::isspace((unsigned char)text.back())) text.pop_back();
  if (!text.empty()) t_last_log = text;
}


bool H264HasIdr(const uint8_t* data, size_t size) {
  for (size_t i = 0; i + 3 < size; ++i) {
    if (data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1) {
      if ((data[i + 3] & 0x1F) == 5) return true;
      i += 2;
    }
  }
  return false;
}

void CopyPlane(uint8_t* dst, int dst_stride, const uint8_t* src, int src_stride, int width, int height) {
  for (int y = 0; y < height; ++y) std::memcpy(dst + (size_t)y * dst_stride, src + (size_t)y * src_stride, (size_t)width);
}

}  // namespace

void InstallAvLogCallback() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_callback(LogCallback); });
}

void ClearAvDetail() { t_last_log.clear(); }

std::string AvErrorText(int code) {
  char buffer[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, buffer, sizeof(buffer));
  return buffer;
}

std::string WithAvDetail(const std::string& message, const char* library) {
  if (t_last_log.empty()) return message;
  return message + " (" + library + ": " + t_last_log + ")";
}

std::string CheckDecodedPicture(const AVFrame* frame, int64_t max_pixels) {
  if ((frame->flags & AV_FRAME_FLAG_CORRUPT) || frame->decode_error_flags != 0) {
    return "the decoded picture is corrupt (missing or damaged data)";
  }
  const AVPixelFormat format = (AVPixelFormat)frame->format;
  if (format != AV_PIX_FMT_YUV420P && format != AV_PIX_FMT_YUVJ420P) {
    const char* name = av_get_pix_fmt_name(format);
    return std::string("unsupported pixel format ") + (name ? name : "?") + " (only 8-bit 4:2:0 is scored)";
  }
  const int w = frame->width, h = frame->height;
  if (w <= 0 || h <= 0 || w > kMaxFrameSide || h > kMaxFrameSide || (int64_t)w * h > max_pixels) {
    return "decoded picture size " + std::to_string(w) + "x" + std::to_string(h) + " is out of range";
  }
  return "";
}

void CopyPictureI420(const AVFrame* frame, std::vector<uint8_t>* out) {
  const int w = frame->width, h = frame->height;
  const int cw = (w + 1) / 2, ch = (h + 1) / 2;
  out->resize((size_t)w * h + 2 * (size_t)cw * ch);
  uint8_t* y = out->data();
  uint8_t* u = y + (size_t)w * h;
  uint8_t* v = u + (size_t)cw * ch;
  CopyPlane(y, w, frame->data[0], frame->linesize[0], w, h);
  CopyPlane(u, cw, frame->data[1], frame->linesize[1], cw, ch);
  CopyPlane(v, cw, frame->data[2], frame->linesize[2], cw, ch);
}

VideoCodec ParseVideoCodec(const std::string& name) {
  std::string upper;
  for (char c : name) upper += (char)std::toupper((unsigned char)c);
  if (upper == "VP8") return VideoCodec::VP8;
  if (upper == "H264" || upper == "H.264") return VideoCodec::H264;
  throw FrameError("ERR_INVALID_ARG", "codec must be VP8 or H264, got '" + name + "'");
}

const char* VideoCodecName(VideoCodec codec) { return codec == VideoCodec::VP8 ? "VP8" : "H264"; }

bool IsVideoKeyframe(VideoCodec codec, const uint8_t* data, size_t size) {
  if (codec == VideoCodec::VP8) {
    // RFC 6386 9.1: 3-byte frame tag (bit 0: P, 0 = key frame), then for key frames the start code 9d 01 2a.
    return size >= 10 && (data[0] & 1) == 0 && data[3] == 0x9D && data[4] == 0x01 && data[5] == 0x2A;
  }
  return H264HasIdr(data, size);
}

VideoDecoder::VideoDecoder(VideoCodec codec, int64_t max_pixels) : codec_(codec), max_pixels_(max_pixels) {
  InstallAvLogCallback();
  const AVCodec* decoder = avcodec_find_decoder(codec == VideoCodec::VP8 ? AV_CODEC_ID_VP8 : AV_CODEC_ID_H264);
  if (!decoder) {
    throw FrameError("ERR_INVALID_ARG", std::string("this libavcodec has no ") + VideoCodecName(codec) + " decoder");
  }
  frame_ = av_frame_alloc();
  packet_ = av_packet_alloc();
  if (!frame_ || !packet_) {
    av_frame_free(&frame_);
    av_packet_free(&packet_);
    throw FrameError("ERR_VIDEO_DECODE", "out of memory allocating a decoder");
  }
}

VideoDecoder::~VideoDecoder() {
  Close();
  av_frame_free(&frame_);
  av_packet_free(&packet_);
}

void VideoDecoder::Open() {
  const AVCodec* decoder = avcodec_find_decoder(codec_ == VideoCodec::VP8 ? AV_CODEC_ID_VP8 : AV_CODEC_ID_H264);
  context_ = avcodec_alloc_context3(decoder);
  if (!context_) throw FrameError("ERR_VIDEO_DECODE", "out of memory allocating a decoder");
  // The caller runs one decoder per stream on a thread of its own: no codec threads (frame threading would also
  // delay every picture by a frame per thread).
  context_->thread_count = 1;
  // A picture libavcodec had to conceal is an error, not something to score.
  context_->flags &= ~AV_CODEC_FLAG_OUTPUT_CORRUPT;
  // A stream claiming a picture over the frame-pixel cap (VP8 allows 16383x16383, an H.264 SPS more) is refused
  // when its header is parsed, before libavcodec allocates its reference pictures; the size check after
  // decoding alone came too late for the memory.
  context_->max_pixels = max_pixels_;
  if (codec_ == VideoCodec::VP8) context_->err_recognition |= AV_EF_EXPLODE;
  const int rc = avcodec_open2(context_, decoder, nullptr);
  if (rc < 0) {
    avcodec_free_context(&context_);
    throw FrameError("ERR_VIDEO_DECODE", WithAvDetail("could not open the " + std::string(VideoCodecName(codec_)) +
                                                    " decoder: " + AvErrorText(rc)));
  }
}

void VideoDecoder::Close() {
  if (context_) avcodec_free_context(&context_);
}

void VideoDecoder::Reset() {
  Close();
  if (frame_) av_frame_unref(frame_);
  if (packet_) av_packet_unref(packet_);
  need_keyframe_ = true;
  stats_.resets++;
}

void VideoDecoder::FailAndReset(const std::string& message) {
  std::string full = WithAvDetail(message);
  stats_.failed++;
  Reset();
  throw FrameError("ERR_VIDEO_DECODE", full);
}

DecodedVideo VideoDecoder::Decode(const uint8_t* data, size_t size, bool want_pixels) {
  if (size == 0) throw FrameError("ERR_INVALID_INPUT", "the access unit is empty");
  if (size > kMaxAccessUnitBytes) {
    throw FrameError("ERR_INVALID_INPUT", "the access unit is " + std::to_string(size) + " bytes, over the limit of " +
                                              std::to_string(kMaxAccessUnitBytes));
  }
  const bool keyframe_in = IsVideoKeyframe(codec_, data, size);
  if (need_keyframe_ && !keyframe_in) {
    stats_.skipped++;
    throw FrameError("ERR_VIDEO_NEED_KEYFRAME",
                     std::string("not a ") + VideoCodecName(codec_) +
                         " key frame, and the decoder has none to refer to (it was just created or reset)");
  }
  const auto start = std::chrono::steady_clock::now();
  if (!context_) Open();
  ClearAvDetail();
  av_packet_unref(packet_);
  if (av_new_packet(packet_, (int)size) < 0) FailAndReset("out of memory for a packet");
  std::memcpy(packet_->data, data, size);
  if (keyframe_in) packet_->flags |= AV_PKT_FLAG_KEY;

  int rc = avcodec_send_packet(context_, packet_);
  av_packet_unref(packet_);
  if (rc < 0) FailAndReset("the " + std::string(VideoCodecName(codec_)) + " decoder refused the access unit: " + AvErrorText(rc));
  if (keyframe_in) need_keyframe_ = false;

  DecodedVideo out;
  for (;;) {
    rc = avcodec_receive_frame(context_, frame_);
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) break;
    if (rc < 0) FailAndReset("decoding failed: " + AvErrorText(rc));
    const std::string bad = CheckDecodedPicture(frame_, max_pixels_);
    if (!bad.empty()) {
      av_frame_unref(frame_);
      FailAndReset(bad);
    }
    const int w = frame_->width, h = frame_->height;
    out.decoded = true;
    out.width = w;
    out.height = h;
#ifdef AV_FRAME_FLAG_KEY
    out.keyframe = (frame_->flags & AV_FRAME_FLAG_KEY) != 0;
#else
    out.keyframe = frame_->key_frame != 0;
#endif
    if (want_pixels) {
      CopyPictureI420(frame_, &out.i420);
    } else {
      out.i420.clear();
    }
    av_frame_unref(frame_);
  }
  if (out.decoded) stats_.decoded++;
  else stats_.empty++;
  out.decode_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace mg
