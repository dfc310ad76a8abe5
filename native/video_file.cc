#include "video_file.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/display.h>
#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include <cmath>
#include <cstdio>
#include <utility>

#include "video_decoder.h"

namespace mg {

namespace {

// The clockwise turn (0, 90, 180, 270) that shows the stream upright, read as the ffmpeg command line reads it
// (phones record sideways and say so in the display matrix). Flips and other angles are not applied.
int DisplayRotation(const AVStream* stream) {
  const uint8_t* matrix = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, nullptr);
  if (!matrix) return 0;
  double theta = -std::round(av_display_rotation_get(reinterpret_cast<const int32_t*>(matrix)));
  theta -= 360 * std::floor(theta / 360 + 0.9 / 360);
  for (int quarter : {0, 90, 180, 270}) {
    if (std::fabs(theta - quarter) < 1.0) return quarter;
  }
  return 0;
}

// One plane of w x h turned clockwise by `rotation` degrees into dst (h x w for 90 and 270).
void RotatePlane(const uint8_t* src, int w, int h, int rotation, uint8_t* dst) {
  if (rotation == 180) {
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) dst[(size_t)y * w + x] = src[(size_t)(h - 1 - y) * w + (w - 1 - x)];
    return;
  }
  // 90: row y of the result is column y of the source read bottom to top; 270: column w-1-y read top to bottom.
  for (int y = 0; y < w; ++y)
    for (int x = 0; x < h; ++x) {
      dst[(size_t)y * h + x] = rotation == 90 ? src[(size_t)(h - 1 - x) * w + y] : src[(size_t)x * w + (w - 1 - y)];
    }
}

// Packed I420 of w x h turned clockwise by `rotation` (90, 180, 270) into out.
void RotateI420(const std::vector<uint8_t>& in, int w, int h, int rotation, std::vector<uint8_t>* out) {
  const int cw = (w + 1) / 2, ch = (h + 1) / 2;
  out->resize(in.size());
  RotatePlane(in.data(), w, h, rotation, out->data());
  const size_t luma = (size_t)w * h, chroma = (size_t)cw * ch;
  RotatePlane(in.data() + luma, cw, ch, rotation, out->data() + luma);
  RotatePlane(in.data() + luma + chroma, cw, ch, rotation, out->data() + luma + chroma);
}

}  // namespace

VideoFile::VideoFile(std::string path, double sample_fps, int max_frames, int64_t max_pixels)
    : path_(std::move(path)), sample_interval_s_(1.0 / sample_fps), max_frames_(max_frames), max_pixels_(max_pixels) {
  InstallAvLogCallback();
}

VideoFile::~VideoFile() { Close(); }

void VideoFile::Close() {
  sws_freeContext(convert_);
  convert_ = nullptr;
  av_frame_free(&converted_);
  if (codec_) avcodec_free_context(&codec_);
  if (format_) avformat_close_input(&format_);
  av_frame_free(&frame_);
  av_packet_free(&packet_);
}

VideoFileInfo VideoFile::Open() {
  ClearAvDetail();
  int rc = avformat_open_input(&format_, path_.c_str(), nullptr, nullptr);
  if (rc < 0) throw FrameError("ERR_VIDEO_OPEN", WithAvDetail("cannot open '" + path_ + "' as a video: " + AvErrorText(rc), "libavformat"));
  rc = avformat_find_stream_info(format_, nullptr);
  if (rc < 0) throw FrameError("ERR_VIDEO_OPEN", WithAvDetail("cannot read the streams of '" + path_ + "': " + AvErrorText(rc), "libavformat"));
  const AVCodec* decoder = nullptr;
  stream_index_ = av_find_best_stream(format_, AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0);
  if (stream_index_ == AVERROR_STREAM_NOT_FOUND) throw FrameError("ERR_VIDEO_NO_STREAM", "'" + path_ + "' has no video stream");
  if (stream_index_ < 0 || !decoder) {
    // AVERROR_DECODER_NOT_FOUND: video streams, none decodable here. Name the best one's codec, or its tag when
    // libavformat does not know the codec either.
    const int best = av_find_best_stream(format_, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    const AVCodecParameters* par = best >= 0 ? format_->streams[best]->codecpar : nullptr;
    if (par && par->codec_id == AV_CODEC_ID_NONE) {
      char tag[AV_FOURCC_MAX_STRING_SIZE] = {};
      throw FrameError("ERR_VIDEO_CODEC", "'" + path_ + "': its video codec (tag '" + av_fourcc_make_string(tag, par->codec_tag) +
                                              "') is unknown to this libavcodec, which has no decoder for it");
    }
    const char* codec = par ? avcodec_get_name(par->codec_id) : "?";
    throw FrameError("ERR_VIDEO_CODEC", "'" + path_ + "': this libavcodec has no decoder for its video codec " + codec);
  }
  AVStream* stream = format_->streams[stream_index_];
  // Only the chosen stream is read; the demuxer drops the others' packets early.
  for (unsigned i = 0; i < format_->nb_streams; ++i) {
    if ((int)i != stream_index_) format_->streams[i]->discard = AVDISCARD_ALL;
  }
  codec_ = avcodec_alloc_context3(decoder);
  frame_ = av_frame_alloc();
  packet_ = av_packet_alloc();
  if (!codec_ || !frame_ || !packet_) throw FrameError("ERR_VIDEO_OPEN", "out of memory opening a video");
  rc = avcodec_parameters_to_context(codec_, stream->codecpar);
  if (rc < 0) throw FrameError("ERR_VIDEO_CODEC", "cannot configure the decoder: " + AvErrorText(rc));
  codec_->thread_count = 1;  // one thread per file; the scan reads several files at once
  codec_->flags &= ~AV_CODEC_FLAG_OUTPUT_CORRUPT;
  codec_->max_pixels = max_pixels_;
  if ((int64_t)stream->codecpar->width * stream->codecpar->height > max_pixels_) {
    throw FrameError("ERR_VIDEO_DECODE", "'" + path_ + "': its pictures are " + std::to_string(stream->codecpar->width) + "x" +
                                             std::to_string(stream->codecpar->height) + ", over the frame-pixel cap of " +
                                             std::to_string(max_pixels_) + " (maxFramePixels)");
  }
  rc = avcodec_open2(codec_, decoder, nullptr);
  if (rc < 0) throw FrameError("ERR_VIDEO_CODEC", WithAvDetail(std::string("cannot open the ") + decoder->name + " decoder: " + AvErrorText(rc)));
  time_base_ = av_q2d(stream->time_base);
  start_pts_ = stream->start_time != AV_NOPTS_VALUE ? stream->start_time : 0;

  VideoFileInfo info;
  info.container = format_->iformat->name;
  info.codec = decoder->name;
  rotation_ = DisplayRotation(stream);
  const bool sideways = rotation_ == 90 || rotation_ == 270;
  info.rotation = rotation_;
  info.width = sideways ? stream->codecpar->height : stream->codecpar->width;
  info.height = sideways ? stream->codecpar->width : stream->codecpar->height;
  if (stream->duration != AV_NOPTS_VALUE) info.duration_s = stream->duration * time_base_;
  else if (format_->duration != AV_NOPTS_VALUE) info.duration_s = (double)format_->duration / AV_TIME_BASE;
  if (stream->avg_frame_rate.num > 0 && stream->avg_frame_rate.den > 0) info.frame_rate = av_q2d(stream->avg_frame_rate);
  duration_s_ = info.duration_s;
  if (info.frame_rate > 0) frame_interval_s_ = 1.0 / info.frame_rate;
  return info;
}

bool VideoFile::ReceivePicture() {
  for (;;) {
    int rc = avcodec_receive_frame(codec_, frame_);
    if (rc == 0) return true;
    if (rc == AVERROR_EOF) return false;
    if (rc != AVERROR(EAGAIN)) throw FrameError("ERR_VIDEO_DECODE", WithAvDetail("decoding failed: " + AvErrorText(rc)));
    if (draining_) return false;
    // The decoder wants input: the next packet of our stream, or the flush at the end of the file.
    for (;;) {
      rc = av_read_frame(format_, packet_);
      if (rc == AVERROR_EOF) {
        draining_ = true;
        avcodec_send_packet(codec_, nullptr);
        break;
      }
      if (rc < 0) throw FrameError("ERR_VIDEO_READ", WithAvDetail("reading '" + path_ + "' failed: " + AvErrorText(rc), "libavformat"));
      if (packet_->stream_index != stream_index_) {
        av_packet_unref(packet_);
        continue;
      }
      rc = avcodec_send_packet(codec_, packet_);
      av_packet_unref(packet_);
      if (rc < 0 && rc != AVERROR(EAGAIN)) {
        throw FrameError("ERR_VIDEO_DECODE", WithAvDetail("the decoder refused a packet: " + AvErrorText(rc)));
      }
      break;
    }
  }
}

const AVFrame* VideoFile::ToYuv420(const AVFrame* frame) {
  const AVPixelFormat format = (AVPixelFormat)frame->format;
  const bool corrupt = (frame->flags & AV_FRAME_FLAG_CORRUPT) || frame->decode_error_flags != 0;
  if (format == AV_PIX_FMT_YUV420P || format == AV_PIX_FMT_YUVJ420P || corrupt) return frame;  // checked as it is
  if (frame->width <= 0 || frame->height <= 0 || frame->width > kMaxFrameSide || frame->height > kMaxFrameSide) return frame;
  convert_ = sws_getCachedContext(convert_, frame->width, frame->height, format, frame->width, frame->height,
                                  AV_PIX_FMT_YUV420P, SWS_BILINEAR, nullptr, nullptr, nullptr);
  if (!convert_) {
    const char* name = av_get_pix_fmt_name(format);
    throw FrameError("ERR_VIDEO_DECODE", std::string("cannot convert pixel format ") + (name ? name : "?") + " to 8-bit 4:2:0");
  }
  if (!converted_) converted_ = av_frame_alloc();
  if (!converted_) throw FrameError("ERR_VIDEO_DECODE", "out of memory converting a picture");
  if (converted_->width != frame->width || converted_->height != frame->height) {
    av_frame_unref(converted_);
    converted_->format = AV_PIX_FMT_YUV420P;
    converted_->width = frame->width;
    converted_->height = frame->height;
    if (av_frame_get_buffer(converted_, 0) < 0) throw FrameError("ERR_VIDEO_DECODE", "out of memory converting a picture");
  }
  sws_scale(convert_, frame->data, frame->linesize, 0, frame->height, converted_->data, converted_->linesize);
  return converted_;
}

void VideoFile::CheckComplete() const {
  if (decoded_ == 0) {
    throw FrameError("ERR_VIDEO_TRUNCATED", "'" + path_ + "' ends before its first picture: the file is truncated or damaged");
  }
  // The last picture shows for one frame interval; a file missing more than that (and half a second, for
  // containers whose declared duration is rounded) was cut short.
  const double shown_until = last_time_s_ + frame_interval_s_;
  if (duration_s_ > 0 && shown_until + 0.5 < duration_s_) {
    char detail[128];
    std::snprintf(detail, sizeof(detail), " ends at %.1f s of the %.1f s its header declares: the file is truncated",
                  shown_until, duration_s_);
    throw FrameError("ERR_VIDEO_TRUNCATED", "'" + path_ + "'" + detail);
  }
}

bool VideoFile::Next(SampledFrame* out) {
  if (!codec_) throw FrameError("ERR_INVALID_ARG", "the video file is not open");
  while (!finished_ && sampled_ < max_frames_) {
    ClearAvDetail();
    if (!ReceivePicture()) {
      finished_ = true;
      CheckComplete();
      break;
    }
    const int64_t index = decoded_++;
    const int64_t pts = frame_->best_effort_timestamp;
    // Without timestamps, pictures are spaced by the stream's frame rate (or counted as 25 frames/s).
    double time_s;
    if (pts != AV_NOPTS_VALUE) {
      time_s = (pts - start_pts_) * time_base_;
    } else {
      const AVRational rate = format_->streams[stream_index_]->avg_frame_rate;
      time_s = index / (rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 25.0);
    }
    last_time_s_ = time_s;
    if (time_s + 1e-6 < next_sample_s_) {
      av_frame_unref(frame_);
      continue;
    }
    const AVFrame* picture = ToYuv420(frame_);
    const std::string bad = CheckDecodedPicture(picture, max_pixels_);
    if (!bad.empty()) {
      av_frame_unref(frame_);
      throw FrameError("ERR_VIDEO_DECODE", "picture " + std::to_string(index) + " at " + std::to_string(time_s) + " s: " + bad);
    }
    out->time_s = time_s;
    out->decoded_index = index;
    if (rotation_ == 0) {
      out->width = picture->width;
      out->height = picture->height;
      CopyPictureI420(picture, &out->i420);
    } else {
      CopyPictureI420(picture, &unrotated_);
      RotateI420(unrotated_, picture->width, picture->height, rotation_, &out->i420);
      const bool sideways = rotation_ == 90 || rotation_ == 270;
      out->width = sideways ? picture->height : picture->width;
      out->height = sideways ? picture->width : picture->height;
    }
    av_frame_unref(frame_);
    // Samples keep to a fixed schedule; after a gap in the video the schedule restarts from this picture rather
    // than catching up with a burst.
    next_sample_s_ += sample_interval_s_;
    if (next_sample_s_ <= time_s) next_sample_s_ = time_s + sample_interval_s_;
    sampled_++;
    return true;
  }
  return false;
}

}  // namespace mg
