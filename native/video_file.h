// A recorded video file read front to back: libavformat demuxes it, libavcodec decodes its best video stream
// (the checks of video_decoder.h; libswscale brings pictures of other formats to 8-bit 4:2:0), and frames are sampled at a fixed rate up to a count. One picture is held at a
// time, whatever the file's length. Not thread-safe: one owner thread opens it and reads it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frame_decode.h"  // FrameError

struct AVCodecContext;
struct AVFormatContext;
struct AVFrame;
struct AVPacket;
struct SwsContext;

namespace mg {

struct VideoFileInfo {
  std::string container;  // libavformat's name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
  std::string codec;      // e.g. "h264", "vp8"
  int width = 0, height = 0;  // as displayed: after the rotation
  int rotation = 0;        // clockwise degrees the pictures are turned to display upright: 0, 90, 180 or 270
  double duration_s = 0;  // 0 when the container does not say
  double frame_rate = 0;  // average frames/s, 0 when unknown
};

struct SampledFrame {
  std::vector<uint8_t> i420;  // packed Y, U, V, turned upright as the container's display matrix says
  int width = 0, height = 0;
  double time_s = 0;  // presentation time from the stream's start
  int64_t decoded_index = 0;  // which decoded picture of the stream (0-based)
};

class VideoFile {
 public:
  // sample_fps > 0: at most one frame per 1/sample_fps seconds of presentation time; max_frames >= 1; pictures
  // over max_pixels are refused (ERR_VIDEO_DECODE) before libavcodec allocates them.
  VideoFile(std::string path, double sample_fps, int max_frames, int64_t max_pixels);
  ~VideoFile();
  VideoFile(const VideoFile&) = delete;
  VideoFile& operator=(const VideoFile&) = delete;

  // Opens the file and its decoder. Throws FrameError: ERR_VIDEO_OPEN (unreadable, not a media file),
  // ERR_VIDEO_NO_STREAM (no video stream), ERR_VIDEO_CODEC (no decoder for the stream's codec).
  VideoFileInfo Open();
  // The next sampled frame; false at the end (end of file or max_frames reached). Throws FrameError
  // ERR_VIDEO_DECODE when a picture cannot be decoded, ERR_VIDEO_READ on a read error,
  // ERR_VIDEO_TRUNCATED when the file ends with no picture, or well before the duration its header declares.
  bool Next(SampledFrame* out);

  int64_t decoded() const { return decoded_; }
  int sampled() const { return sampled_; }

 private:
  bool ReceivePicture();  // the next decoded picture into frame_, false at the end
  void CheckComplete() const;  // at the end of the file: throws when it was cut short
  // The picture itself when it is 8-bit 4:2:0 (or damaged: CheckDecodedPicture says so), else converted_.
  const AVFrame* ToYuv420(const AVFrame* frame);
  void Close();

  std::string path_;
  double sample_interval_s_;
  int max_frames_;
  int64_t max_pixels_;
  AVFormatContext* format_ = nullptr;
  AVCodecContext* codec_ = nullptr;
  AVFrame* frame_ = nullptr;
  AVPacket* packet_ = nullptr;
  int stream_index_ = -1;
  int rotation_ = 0;
  std::vector<uint8_t> unrotated_;  // the decoded picture before turning, reused
  SwsContext* convert_ = nullptr;   // to 8-bit 4:2:0 for pictures in any other format (10-bit, 4:4:4, ...)
  AVFrame* converted_ = nullptr;
  double time_base_ = 0;
  double duration_s_ = 0;      // as the header declares it, 0 when unknown
  double frame_interval_s_ = 0.04;
  double last_time_s_ = 0;     // of the last decoded picture
  int64_t start_pts_ = 0;
  bool draining_ = false;  // the demuxer is at its end; the decoder is being flushed
  bool finished_ = false;
  int64_t decoded_ = 0;
  int sampled_ = 0;
  double next_sample_s_ = 0;
};

}  // namespace mg
